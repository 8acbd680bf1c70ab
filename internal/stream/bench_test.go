package stream

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// benchRecords is the number of 100-byte records per read iteration.
const benchRecords = 10_000

func BenchmarkWrite(b *testing.B) {
	rec := payload(rand.New(rand.NewPCG(1, 1)), 100)
	for _, c := range configs(0) {
		b.Run(c.name, func(b *testing.B) {
			w, err := NewWriter(io.Discard, testHeader, c.opts)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				if err := w.WriteRecord(1, rec); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(Footer{}); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(w.Bytes())/float64(b.N*len(rec)), "stored/raw")
		})
	}
}

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
