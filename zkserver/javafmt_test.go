package zkserver

import (
	"math"
	"net"
	"testing"
)

// javaDouble prints as Java's Double.toString, which ZooKeeper's mean
// latencies are printed with.
func TestJavaDouble(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0.0"},
		{1, "1.0"},
		{6.375, "6.375"},
		{0.001, "0.001"},
		{0.0005, "5.0E-4"},
		{0.00025, "2.5E-4"},
		{9999999, "9999999.0"},
		{1e7, "1.0E7"},
		{12345678.9, "1.23456789E7"},
		{-2.5, "-2.5"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
	} {
		if got := javaDouble(tc.v); got != tc.want {
			t.Errorf("javaDouble(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// javaSocketAddr prints a client's address as Java 17's InetSocketAddress,
// as ZooKeeper's cons and stat show it.
func TestJavaSocketAddr(t *testing.T) {
	for _, tc := range []struct {
		a    net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, "/127.0.0.1:40000"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 2181}, "/[0:0:0:0:0:0:0:1]:2181"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1:abcd"), Port: 1, Zone: "eth0"}, "/[fe80:0:0:0:0:0:1:abcd%eth0]:1"},
	} {
		if got := javaSocketAddr(tc.a); got != tc.want {
			t.Errorf("javaSocketAddr(%v) = %q, want %q", tc.a, got, tc.want)
		}
	}
}

// javaHex prints as Java's Long.toHexString: negative values as their
// two's complement.
func TestJavaHex(t *testing.T) {
	if got := javaHex(-1); got != "ffffffffffffffff" {
		t.Errorf("javaHex(-1) = %q", got)
	}
	if got := javaHex(0x10002a55bd90000); got != "10002a55bd90000" {
		t.Errorf("javaHex = %q", got)
	}
}
