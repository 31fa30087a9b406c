package gateway

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// The fleet: the workers that announce themselves (docs/protocol.md §9.1)
// and whether each takes event batches and implements OnWebSocketConnect. While a live worker says it does
// not, the gateway sends events one by one, so that NATS spreads them over
// every worker: a batch goes only to a worker that takes batches, and
// under load most events would travel in batches. Workers that never
// announce themselves are not seen here.

// workerGone is how long a worker may stay silent before the gateway
// forgets it; workers announce themselves every second.
const workerGone = 3 * time.Second

type fleet struct {
	mu      sync.Mutex
	workers map[string]fleetWorker // by worker id
	// emptySince is when the gateway last knew of no worker: its start,
	// or when the last worker left.
	emptySince time.Time
	// arrived is closed, and replaced, when a worker is heard of that was
	// not known: handshakes waiting for a worker look again.
	arrived chan struct{}
	picks   directPicks // redeliveries sent to each worker (redeliver.go)
	// silent lists the workers forgotten for their silence (no goodbye)
	// lately, oldest first: one may be frozen with events (hold.go).
	silent []silentSpan
}

type fleetWorker struct {
	batches   bool // it takes event batches
	wsConnect bool // it implements OnWebSocketConnect
	direct    bool // it takes events on its direct subject (redeliver.go)
	// busySince is since when it says it is busy; zero: not busy (hold.go)
	busySince time.Time
	seen      time.Time
}

// fleetView is what a handshake needs to know of the fleet.
type fleetView struct {
	live       int       // workers heard of within workerGone
	wsConnect  int       // of them, those that implement OnWebSocketConnect
	emptySince time.Time // when live is 0: since when
	arrived    <-chan struct{}
}

func (g *Gateway) viewFleet(now time.Time) fleetView {
	g.fleet.mu.Lock()
	defer g.fleet.mu.Unlock()
	v := fleetView{emptySince: g.fleet.emptySince, arrived: g.fleet.arrived}
	var lastGone time.Time // when the last of the silent workers not yet forgotten went
	for _, w := range g.fleet.workers {
		if gone := w.seen.Add(workerGone); now.After(gone) {
			if gone.After(lastGone) {
				lastGone = gone
			}
			continue
		}
		v.live++
		if w.wsConnect {
			v.wsConnect++
		}
	}
	if v.live > 0 {
		v.emptySince = time.Time{}
	} else if v.emptySince.IsZero() {
		v.emptySince = lastGone // workers known but all silent
	}
	return v
}

// onWorkerHeartbeat records a worker's heartbeat or goodbye.
func (g *Gateway) onWorkerHeartbeat(m *nats.Msg) {
	beat := wire.ReadWorkerBeat(m)
	id := beat.Worker
	if id == "" {
		return // someone asking workers to announce themselves
	}
	now := time.Now()
	g.fleet.mu.Lock()
	if beat.Op == wire.OpBye {
		delete(g.fleet.workers, id)
		if len(g.fleet.workers) == 0 {
			g.fleet.emptySince = now
		}
	} else {
		old, known := g.fleet.workers[id]
		if !known {
			g.fleet.heardAgain(id, now)
			if g.fleet.arrived != nil {
				close(g.fleet.arrived)
			}
			g.fleet.arrived = make(chan struct{})
		}
		g.fleet.workers[id] = fleetWorker{
			batches:   beat.Has(wire.FeatureEventBatches),
			wsConnect: beat.Has(wire.FeatureWSConnect),
			direct:    beat.Has(wire.FeatureDirect) && wire.ValidWorkerID(id),
			busySince: busySince(old, beat.Busy, now),
			seen:      now,
		}
		g.fleet.emptySince = time.Time{}
	}
	g.fleet.mu.Unlock()
	g.recountFleet(now)
}

// recountFleet forgets workers silent for workerGone and tells the
// batcher how many live workers do not take batches.
func (g *Gateway) recountFleet(now time.Time) {
	n := 0
	g.fleet.mu.Lock()
	for id, w := range g.fleet.workers {
		switch {
		case now.Sub(w.seen) > workerGone:
			g.fleet.wentSilent(id, w.seen)
			delete(g.fleet.workers, id)
			if len(g.fleet.workers) == 0 {
				g.fleet.emptySince = now
			}
		case !w.batches:
			n++
		}
	}
	g.fleet.pruneSilent(now, (holdLimit+1)*g.opts.EventTimeout)
	g.recountLocal()
	g.fleet.mu.Unlock()
	switch old := g.batcher.holdouts.Swap(int32(n)); {
	case old == 0 && n > 0:
		g.log.Info("a worker that does not take event batches is running; publishing events one by one", "workers", n)
	case old > 0 && n == 0:
		g.log.Info("every announced worker takes event batches; batching events again")
	}
}
