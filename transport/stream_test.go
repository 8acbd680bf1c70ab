package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// receiver records the streams an endpoint takes.
func receiver(got *[]byte, gotFrom *uint64) func(uint64, []byte, io.Reader) error {
	return func(from uint64, header []byte, body io.Reader) error {
		b, err := io.ReadAll(body)
		*got = append(append([]byte{}, header...), b...)
		*gotFrom = from
		return err
	}
}

func TestStreamDelivered(t *testing.T) {
	m := NewMemory(1)
	defer m.Close()
	var got []byte
	var from uint64
	if err := m.Endpoint(2).AttachStream(receiver(&got, &from)); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 1<<20)
	if err := m.Endpoint(1).SendStream(context.Background(), 2, []byte("h:"), bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if from != 1 || !bytes.Equal(got, append([]byte("h:"), body...)) {
		t.Fatalf("from %d, %d bytes", from, len(got))
	}
	if err := m.Endpoint(1).SendStream(context.Background(), 3, nil, bytes.NewReader(nil)); !errors.Is(err, ErrNoReceiver) {
		t.Fatalf("stream to an unattached member: %v", err)
	}
}

func TestStreamFaults(t *testing.T) {
	m := NewMemory(1)
	defer m.Close()
	var got []byte
	var from uint64
	m.Endpoint(2).AttachStream(receiver(&got, &from))
	send := func(body io.Reader) error {
		return m.Endpoint(1).SendStream(context.Background(), 2, nil, body)
	}
	m.CutStreams(1, 100)
	if err := send(bytes.NewReader(make([]byte, 1000))); !errors.Is(err, ErrStreamBroken) || len(got) != 100 {
		t.Fatalf("cut stream: %v after %d bytes", err, len(got))
	}
	if err := send(bytes.NewReader(make([]byte, 1000))); err != nil || len(got) != 1000 {
		t.Fatalf("stream after the cut: %v, %d bytes", err, len(got))
	}
	// A partition in the middle breaks the stream.
	r := &partitionAfter{m: m, n: 3}
	if err := send(r); !errors.Is(err, ErrStreamBroken) {
		t.Fatalf("partitioned stream: %v", err)
	}
	m.Heal()
	m.Drop(1, 2, 1)
	if err := send(bytes.NewReader(make([]byte, 2<<20))); !errors.Is(err, ErrStreamBroken) {
		t.Fatalf("stream over a dropping link: %v", err)
	}
	m.Drop(1, 2, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Endpoint(1).SendStream(ctx, 2, nil, bytes.NewReader(make([]byte, 10))); !errors.Is(err, ErrStreamBroken) {
		t.Fatalf("cancelled stream: %v", err)
	}
	if started, broken := m.StreamStats(); started != 5 || broken != 4 {
		t.Fatalf("stats: started %d broken %d", started, broken)
	}
}

// partitionAfter yields 1 KiB reads and partitions the network after n.
type partitionAfter struct {
	m *Memory
	n int
}

func (p *partitionAfter) Read(b []byte) (int, error) {
	if p.n == 0 {
		p.m.Isolate(2)
	}
	p.n--
	return copy(b, make([]byte, 1024)), nil
}
