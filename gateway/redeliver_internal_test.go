package gateway

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// TestPickDirect: a resend goes only to a worker that announced direct,
// with a valid id, heard from within directFresh; picks alternate between
// the fresh ones, avoid is skipped unless it is the only one, and no
// candidate means the queue group.
func TestPickDirect(t *testing.T) {
	g := fleetGateway()
	beat := func(id, features string) {
		g.onWorkerHeartbeat(&nats.Msg{Header: nats.Header{wire.HdrWorker: {id}, wire.HdrFeatures: {features}}})
	}
	beat("direct0001", wire.FeatureEventBatches+","+wire.FeatureDirect)
	beat("direct0002", wire.FeatureDirect)
	beat("nodeworker", wire.FeatureEventBatches) // no direct subject
	beat("bad.id.*", wire.FeatureDirect)         // not a subject token
	now := time.Now()
	seen := map[string]int{}
	for range 10 {
		id, ok := g.pickDirect(now, "")
		if !ok {
			t.Fatal("no pick among two fresh workers")
		}
		seen[id]++
	}
	if seen["direct0001"] != 5 || seen["direct0002"] != 5 || len(seen) != 2 {
		t.Errorf("picks %v, want 5 each of the two direct workers", seen)
	}
	for range 4 {
		if id, _ := g.pickDirect(now, "direct0001"); id != "direct0002" {
			t.Fatalf("picked %q while avoiding direct0001", id)
		}
	}
	// A worker that says it is busy comes after one that does not.
	w := g.fleet.workers["direct0001"]
	w.busySince = now
	g.fleet.workers["direct0001"] = w
	for range 4 {
		if id, _ := g.pickDirect(now, ""); id != "direct0002" {
			t.Fatalf("picked %q, busy, over direct0002, not busy", id)
		}
	}
	w.busySince = time.Time{}
	g.fleet.workers["direct0001"] = w
	// direct0002 falls silent: stale after directFresh.
	w = g.fleet.workers["direct0002"]
	w.seen = now.Add(-directFresh - time.Millisecond)
	g.fleet.workers["direct0002"] = w
	if id, ok := g.pickDirect(now, "direct0001"); !ok || id != "direct0001" {
		t.Errorf("the only fresh worker, though avoided: got %q, %v", id, ok)
	}
	w = g.fleet.workers["direct0001"]
	w.seen = now.Add(-directFresh - time.Millisecond)
	g.fleet.workers["direct0001"] = w
	if id, ok := g.pickDirect(now, ""); ok {
		t.Errorf("picked %q with every direct worker silent for over %v", id, directFresh)
	}
	if id, ok := g.pickDirect(now.Add(-directFresh), ""); !ok {
		t.Errorf("nothing picked at exactly directFresh of silence (got %q)", id)
	}
}
