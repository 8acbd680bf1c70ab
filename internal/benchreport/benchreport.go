// Package benchreport reports what benchmarks measure beside ns/op.
package benchreport

import (
	"slices"
	"testing"
	"time"
)

// Latencies reports the p50, p99 and maximum of ds in milliseconds, as
// ms-p50, ms-p99 and ms-max, and sorts ds. It reports nothing for none.
func Latencies(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(Millis(ds[len(ds)/2]), "ms-p50")
	b.ReportMetric(Millis(ds[len(ds)*99/100]), "ms-p99")
	b.ReportMetric(Millis(ds[len(ds)-1]), "ms-max")
}

// Millis is d in milliseconds, to the microsecond.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
