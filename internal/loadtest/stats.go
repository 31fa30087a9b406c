//go:build linux

package loadtest

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: values are kept in buckets of
// relative width at most 2^-(subBits-1), under 1.6%.
const subBits = 7

const (
	subCount   = 1 << subBits
	halfCount  = subCount / 2
	numBuckets = subCount + (64-subBits)*halfCount
)

// histogram counts durations in nanoseconds in log-linear buckets: a fixed
// 30 KB, no allocation per sample, mergeable.
type histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	min, max int64
}

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return subCount + (shift-1)*halfCount + int(v>>shift) - halfCount
}

// bucketMid returns the middle of bucket i.
func bucketMid(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := (i-subCount)/halfCount + 1
	low := uint64((i-subCount)%halfCount+halfCount) << shift
	return int64(low + (uint64(1)<<shift)/2)
}

// add records one duration; negative ones count as zero.
func (h *histogram) add(d int64) {
	d = max(d, 0)
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.counts[bucketOf(uint64(d))]++
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// quantile returns the value at q (0..1), within the bucket precision and
// never outside [min, max].
func (h *histogram) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(max(bucketMid(i), h.min), h.max)
		}
	}
	return h.max
}

// Percentiles are latency percentiles in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func (h *histogram) percentiles() Percentiles {
	ms := func(ns int64) float64 { return float64(ns) / float64(time.Millisecond) }
	return Percentiles{P50: ms(h.quantile(0.50)), P90: ms(h.quantile(0.90)), P99: ms(h.quantile(0.99)), Max: ms(h.max)}
}
