package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// FuzzTCPFrameLane feeds arbitrary bytes to an incoming frame lane's
// reader (after the preamble): it never panics, every frame it returns is
// within MaxFrame and names this cluster, and every other outcome is the
// end of input or a refusal.
func FuzzTCPFrameLane(f *testing.F) {
	var ok bytes.Buffer
	w := bufio.NewWriter(&ok)
	w.WriteByte(recPing)
	writeRecord(w, recFrame, testFrame(testCluster, typApp, 1, 20))
	writeRecord(w, recFrame, testFrame(testCluster, typHeartbeat, 2, 5))
	w.Flush()
	f.Add(ok.Bytes())
	f.Add([]byte{recFrame, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{recFrame, 3, 0, 0, 0})
	f.Add(append([]byte{recFrame, 8}, binary.BigEndian.AppendUint64(nil, testCluster+1)...))
	f.Add([]byte{0x42})
	tr := &TCP{cfg: TCPConfig{ClusterID: testCluster, MaxFrame: 1024}}
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(bytes.NewReader(b))
		for {
			fr, err := tr.nextFrame(br, 2)
			if err != nil {
				var re *RefusalError
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &re) {
					t.Fatalf("error %v is neither the end nor a refusal", err)
				}
				return
			}
			if len(fr) > tr.cfg.MaxFrame || binary.BigEndian.Uint64(fr) != testCluster {
				t.Fatalf("frame of %d bytes delivered", len(fr))
			}
		}
	})
}

// FuzzTCPStreamBody feeds arbitrary bytes to a stream body reader: it
// never panics, fails only with ErrStreamBroken, and reads as complete
// (io.EOF) only when an end marker matching the bytes read arrived.
func FuzzTCPStreamBody(f *testing.F) {
	var ok bytes.Buffer
	w := bufio.NewWriter(&ok)
	writeChunk(w, []byte("hello "))
	w.WriteByte(recPing)
	writeChunk(w, []byte("world"))
	writeEnd(w, 11)
	w.Flush()
	f.Add(ok.Bytes())
	f.Add(ok.Bytes()[:len(ok.Bytes())-1])
	f.Add([]byte{recEnd, 0})
	f.Add([]byte{recEnd, 5})
	bad := bytes.Clone(ok.Bytes())
	bad[8] ^= 1
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		body := &tcpBody{br: bufio.NewReader(bytes.NewReader(b)), max: 1 << 16}
		got, err := io.ReadAll(body)
		if err != nil {
			if !errors.Is(err, ErrStreamBroken) {
				t.Fatalf("error %v does not match ErrStreamBroken", err)
			}
			return
		}
		// Complete: an end marker arrived that counts exactly the bytes
		// read, each from a chunk whose checksum matched.
		if uint64(len(got)) != body.total || !body.eof {
			t.Fatalf("read %d bytes, total %d, eof %v", len(got), body.total, body.eof)
		}
	})
}

// FuzzTCPPreamble: readPreamble never panics, and what it accepts encodes
// back to the same bytes.
func FuzzTCPPreamble(f *testing.F) {
	f.Add(preamble{lane: laneData, cluster: testCluster, from: 1, to: 2}.encode())
	f.Add([]byte("KEEP"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := readPreamble(bytes.NewReader(b))
		if err != nil {
			return
		}
		if !bytes.Equal(p.encode(), b[:preambleSize]) {
			t.Fatalf("preamble %+v encodes differently", p)
		}
	})
}
