package gateway

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
)

// The fleet: the workers that announce themselves (docs/protocol.md §9.1)
// and whether each takes event batches. While a live worker says it does
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
}

type fleetWorker struct {
	batches bool // it takes event batches
	seen    time.Time
}

// onWorkerHeartbeat records a worker's heartbeat or goodbye.
func (g *Gateway) onWorkerHeartbeat(m *nats.Msg) {
	id := m.Header.Get(bus.HdrWorker)
	if id == "" {
		return // someone asking workers to announce themselves
	}
	now := time.Now()
	g.fleet.mu.Lock()
	if m.Header.Get(bus.HdrOp) == bus.OpBye {
		delete(g.fleet.workers, id)
	} else {
		g.fleet.workers[id] = fleetWorker{batches: listed(m.Header.Get(bus.HdrFeatures), bus.FeatureEventBatches), seen: now}
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
			delete(g.fleet.workers, id)
		case !w.batches:
			n++
		}
	}
	g.fleet.mu.Unlock()
	switch old := g.batcher.holdouts.Swap(int32(n)); {
	case old == 0 && n > 0:
		g.log.Info("a worker that does not take event batches is running; publishing events one by one", "workers", n)
	case old > 0 && n == 0:
		g.log.Info("every announced worker takes event batches; batching events again")
	}
}
