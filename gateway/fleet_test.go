package gateway

import (
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
)

// TestFleetCountsLiveWorkersWithoutBatches: only workers heard within
// workerGone that do not list event-batches hold batching back; a
// goodbye or silence ends that.
func TestFleetCountsLiveWorkersWithoutBatches(t *testing.T) {
	g := &Gateway{batcher: newBatcher(32), log: slog.New(slog.DiscardHandler)}
	g.fleet.workers = map[string]fleetWorker{}
	beat := func(id, features, op string) {
		h := nats.Header{bus.HdrWorker: {id}}
		if features != "" {
			h.Set(bus.HdrFeatures, features)
		}
		if op != "" {
			h.Set(bus.HdrOp, op)
		}
		g.onWorkerHeartbeat(&nats.Msg{Header: h})
	}
	beat("gofleet001", bus.FeatureEventBatches, "")
	beat("gofleet002", "other,"+bus.FeatureEventBatches, "")
	if n := g.batcher.holdouts.Load(); n != 0 {
		t.Fatalf("%d holdouts among workers that take batches", n)
	}
	beat("phpfleet01", "", "")
	beat("phpfleet02", "other", "")
	g.onWorkerHeartbeat(&nats.Msg{Header: nats.Header{bus.HdrOp: {bus.OpHello}}}) // a status query: no worker
	if n := g.batcher.holdouts.Load(); n != 2 {
		t.Fatalf("%d holdouts, want 2", n)
	}
	beat("phpfleet01", "", bus.OpBye)
	if n := g.batcher.holdouts.Load(); n != 1 {
		t.Fatalf("%d holdouts after a goodbye, want 1", n)
	}
	g.recountFleet(time.Now().Add(workerGone + time.Second))
	if n, left := g.batcher.holdouts.Load(), len(g.fleet.workers); n != 0 || left != 0 {
		t.Fatalf("%d holdouts and %d workers left after every worker went silent", n, left)
	}
}
