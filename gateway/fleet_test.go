package gateway

import (
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// fleetGateway is a gateway with only what the fleet bookkeeping uses
// (onWorkerHeartbeat, recountFleet, heldForBusy, pickDirect), for tests
// that feed it heartbeats by hand.
func fleetGateway() *Gateway {
	g := &Gateway{batcher: newBatcher(32), log: slog.New(slog.DiscardHandler)}
	g.fleet.workers = map[string]fleetWorker{}
	return g
}

// TestFleetCountsLiveWorkersWithoutBatches: only workers heard within
// workerGone that do not list event-batches hold batching back; a
// goodbye or silence ends that.
func TestFleetCountsLiveWorkersWithoutBatches(t *testing.T) {
	g := fleetGateway()
	beat := func(id, features, op string) {
		h := nats.Header{wire.HdrWorker: {id}}
		if features != "" {
			h.Set(wire.HdrFeatures, features)
		}
		if op != "" {
			h.Set(wire.HdrOp, op)
		}
		g.onWorkerHeartbeat(&nats.Msg{Header: h})
	}
	beat("gofleet001", wire.FeatureEventBatches, "")
	beat("gofleet002", "other,"+wire.FeatureEventBatches, "")
	if n := g.batcher.holdouts.Load(); n != 0 {
		t.Fatalf("%d holdouts among workers that take batches", n)
	}
	beat("phpfleet01", "", "")
	beat("phpfleet02", "other", "")
	g.onWorkerHeartbeat(&nats.Msg{Header: nats.Header{wire.HdrOp: {wire.OpHello}}}) // a status query: no worker
	if n := g.batcher.holdouts.Load(); n != 2 {
		t.Fatalf("%d holdouts, want 2", n)
	}
	beat("phpfleet01", "", wire.OpBye)
	if n := g.batcher.holdouts.Load(); n != 1 {
		t.Fatalf("%d holdouts after a goodbye, want 1", n)
	}
	g.recountFleet(time.Now().Add(workerGone + time.Second))
	if n, left := g.batcher.holdouts.Load(), len(g.fleet.workers); n != 0 || left != 0 {
		t.Fatalf("%d holdouts and %d workers left after every worker went silent", n, left)
	}
}

// TestFleetViewForHandshakes: the handshake's view counts live workers and
// those that announce ws-connect; silent ones are gone from the moment
// workerGone passed, and a new worker wakes waiting handshakes.
func TestFleetViewForHandshakes(t *testing.T) {
	g := fleetGateway()
	g.fleet.arrived = make(chan struct{})
	started := time.Now()
	g.fleet.emptySince = started
	beat := func(id, features, op string) {
		h := nats.Header{wire.HdrWorker: {id}, wire.HdrFeatures: {features}}
		if op != "" {
			h.Set(wire.HdrOp, op)
		}
		g.onWorkerHeartbeat(&nats.Msg{Header: h})
	}
	if v := g.viewFleet(started); v.live != 0 || !v.emptySince.Equal(started) {
		t.Fatalf("empty fleet: %+v", v)
	}
	arrived := g.viewFleet(started).arrived
	beat("vetting001", wire.FeatureEventBatches+","+wire.FeatureWSConnect, "")
	select {
	case <-arrived:
	default:
		t.Fatal("a new worker did not wake the waiting handshakes")
	}
	beat("plain00001", wire.FeatureEventBatches, "")
	now := time.Now()
	if v := g.viewFleet(now); v.live != 2 || v.wsConnect != 1 || !v.emptySince.IsZero() {
		t.Fatalf("two workers, one vetting: %+v", v)
	}
	beat("vetting001", "", wire.OpBye)
	if v := g.viewFleet(now); v.live != 1 || v.wsConnect != 0 {
		t.Fatalf("after the vetting worker's goodbye: %+v", v)
	}
	later := now.Add(workerGone + time.Second)
	v := g.viewFleet(later)
	if v.live != 0 || v.emptySince.After(later.Add(-time.Second)) {
		t.Fatalf("a worker silent for %v: %+v", workerGone+time.Second, v)
	}
}
