//go:build linux

package loadtest

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gobwas/ws"
)

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	var all []int64
	for range 100_000 {
		v := rand.Int64N(50_000_000) // up to 50 ms
		h.add(v)
		all = append(all, v)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := all[int(q*float64(len(all)-1))]
		got := h.quantile(q)
		if diff := float64(got-exact) / float64(exact); diff > 0.02 || diff < -0.02 {
			t.Errorf("q%.2f = %d, exact %d", q, got, exact)
		}
	}
	if h.quantile(1) != all[len(all)-1] || h.max != all[len(all)-1] || h.min != all[0] {
		t.Errorf("max %d min %d, want %d %d", h.max, h.min, all[len(all)-1], all[0])
	}
	var merged histogram
	merged.merge(&h)
	merged.merge(&histogram{})
	if merged.n != h.n || merged.quantile(0.99) != h.quantile(0.99) {
		t.Error("merge changed the distribution")
	}
	for v := range uint64(1 << 20) {
		if i := bucketOf(v); bucketOf(uint64(bucketMid(i))) != i {
			t.Fatalf("value %d: bucket %d has middle %d in another bucket", v, i, bucketMid(i))
		}
	}
	if bucketOf(1<<63) >= numBuckets {
		t.Fatal("largest value out of range")
	}
}

func TestStamp(t *testing.T) {
	b := appendStamp([]byte("x"), 42, 1234567890123)
	if string(b) != "x000000042 001234567890123" {
		t.Fatalf("stamp %q", b)
	}
	seq, sent, ok := parseStamp(append(b[1:], "padding"...))
	if !ok || seq != 42 || sent != 1234567890123 {
		t.Fatalf("parsed %d %d %v", seq, sent, ok)
	}
	if _, _, ok := parseStamp([]byte("ok")); ok {
		t.Fatal("parsed a short payload")
	}
}

func TestParseHeader(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		var w frameWriter
		frame := w.frame(ws.OpText, make([]byte, n))
		h, size, ok := parseHeader(frame)
		if !ok || h.Length != int64(n) || !h.Masked || h.OpCode != ws.OpText || size+n != len(frame) {
			t.Errorf("length %d: %+v size %d ok %v", n, h, size, ok)
		}
		if _, _, ok := parseHeader(frame[:size-1]); ok {
			t.Errorf("length %d: a cut header parsed", n)
		}
	}
}
