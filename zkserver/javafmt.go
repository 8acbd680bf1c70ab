package zkserver

import (
	"math"
	"net"
	"strconv"
	"strings"
)

// javaDouble formats v as Java's Double.toString does, as ZooKeeper prints
// its mean latencies: plain decimals with at least one digit after the
// point from 10^-3 up to 10^7 ("0.0", "6.375"), computerized scientific
// notation outside ("1.0E7", "2.5E-4").
func javaDouble(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	if a := math.Abs(v); a == 0 || (a >= 1e-3 && a < 1e7) {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(v, 'E', -1, 64) // "1.2345E+07"
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// javaSocketAddr formats a client's address as Java's InetSocketAddress
// does on Java 17: "/127.0.0.1:40000", "/[0:0:0:0:0:0:0:1]:40000" (an IPv6
// address in full, each group without leading zeros).
func javaSocketAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "/" + a.String()
	}
	port := strconv.Itoa(tcp.Port)
	if ip4 := tcp.IP.To4(); ip4 != nil {
		return "/" + ip4.String() + ":" + port
	}
	ip := tcp.IP.To16()
	if ip == nil {
		return "/" + a.String()
	}
	groups := make([]string, 8)
	for i := range groups {
		groups[i] = strconv.FormatUint(uint64(ip[2*i])<<8|uint64(ip[2*i+1]), 16)
	}
	host := strings.Join(groups, ":")
	if tcp.Zone != "" {
		host += "%" + tcp.Zone
	}
	return "/[" + host + "]:" + port
}
