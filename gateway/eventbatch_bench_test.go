package gateway

import (
	"runtime"
	"testing"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// BenchmarkEventBatchPublish measures what a busy gateway does with the
// message events of 32 clients that wait at one moment: one batch, one
// PublishMsg. An op is one batch; allocs/event spreads its allocations
// (nats.go's header encoding and the embedded server's delivery, the same
// 3 as for a lone event: BenchmarkEventPublish) over its events.
func BenchmarkEventBatchPublish(b *testing.B) {
	const n = 32
	f := newPathFixture(b, n)
	f.discardEvents(b)
	items := make([]batchItem, n)
	var bm batchMsg
	payload := make([]byte, 64)
	step := func() {
		for i, c := range f.conns {
			ev := f.g.pools.event(wire.EventMessage)
			ev.data = append(ev.data, payload...)
			ev.seq = uint64(i + 1)
			ev.publishing, ev.finished = 1, true // publishDone gives it back
			items[i] = batchItem{c, ev}
		}
		if got := f.g.publishBatch(&bm, items); got != n {
			b.Fatalf("published %d of %d events", got, n)
		}
	}
	step()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/event")
}
