package stream

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// benchRecords is the number of 100-byte records per read iteration.
const benchRecords = 10_000

// BenchmarkWrite writes 100-byte records cycling through distinct payloads, so
// the compressor sees data rather than one record repeated.
func BenchmarkWrite(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	recs := make([][]byte, 16384) // 1.6 MB: more than a chunk, so no chunk repeats another
	for i := range recs {
		recs[i] = payload(rng, 100)
	}
	for _, c := range configs(0) {
		b.Run(c.name, func(b *testing.B) {
			w, err := NewWriter(io.Discard, testHeader, c.opts)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(100)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := w.WriteRecord(1, recs[i%len(recs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			if err := w.Close(Footer{}); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(w.Bytes())/float64(b.N*100), "stored/raw")
		})
	}
}

// BenchmarkRead reads a stream of benchRecords 100-byte records per iteration,
// NewReader included.
func BenchmarkRead(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	recs := make([]record, benchRecords)
	for i := range recs {
		recs[i] = record{1, payload(rng, 100)}
	}
	for _, c := range configs(0) {
		b.Run(c.name, func(b *testing.B) {
			data := writeStream(b, c.opts, recs, 0)
			src := bytes.NewReader(data)
			b.SetBytes(benchRecords * 100)
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(data)
				r, err := NewReader(src, readerOpts(c.opts))
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, _, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				r.Close()
			}
		})
	}
}
