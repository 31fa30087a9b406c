package worker

import (
	"encoding/json"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// heartbeatInterval is how often a worker announces itself.
const heartbeatInterval = time.Second

// heartbeat announces the worker on the worker heartbeat subject every
// interval, at once when someone says hello (switchboard status), and a
// goodbye when it stops.
type heartbeat struct {
	w    *Worker
	sub  *nats.Subscription
	stop chan struct{}
	done sync.WaitGroup
	mu   sync.Mutex
	rate wire.Rate
	per  float64
	subs []*nats.Subscription // the event subscriptions, whose backlog makes the worker busy
	seen []int                // Dropped() of each of subs when last counted (countDropped)
}

func (w *Worker) startHeartbeat() error {
	hb := &heartbeat{w: w, stop: make(chan struct{}), subs: w.subs, seen: make([]int, len(w.subs))}
	sub, err := w.nc.Subscribe(w.subj.WorkerHeartbeat(), func(m *nats.Msg) {
		beat := wire.ReadWorkerBeat(m)
		if beat.Op == wire.OpHello {
			hb.announce("")
		}
		// The other workers' load: whether gateways hold (busy.go).
		if beat.Worker != "" && beat.Worker != w.id {
			w.peer(beat.Worker, beat.Busy, beat.Op == wire.OpBye, time.Now())
		}
	})
	if err != nil {
		return err
	}
	hb.sub = sub
	w.hb = hb
	hb.announce("") // gateways learn at once whether it takes event batches
	hb.done.Add(1)
	go hb.run()
	return nil
}

func (hb *heartbeat) run() {
	defer hb.done.Done()
	t := time.NewTicker(heartbeatInterval)
	defer t.Stop()
	mon := time.NewTimer(monitorTick)
	defer mon.Stop()
	look := func(now time.Time) {
		changed, active := hb.w.monitor(now, hb.subs)
		if changed {
			hb.announce("") // a change of the busy state goes out at once
		}
		if active {
			mon.Reset(monitorTick)
		} else {
			mon.Reset(monitorIdleTick)
		}
	}
	for {
		select {
		case now := <-mon.C:
			look(now)
		case <-hb.w.monKick:
			look(time.Now())
		case now := <-t.C:
			hb.mu.Lock()
			hb.per = hb.rate.Per(now, hb.w.handled.Load())
			hb.mu.Unlock()
			hb.w.countDropped(hb.subs, hb.seen)
			hb.announce("")
		case <-hb.stop:
			return
		}
	}
}

func (hb *heartbeat) announce(op string) {
	host, _ := os.Hostname()
	hb.mu.Lock()
	per := hb.per
	hb.mu.Unlock()
	body, err := json.Marshal(bus.WorkerStatus{
		ID: hb.w.id, Host: host, PID: os.Getpid(), Started: hb.w.started,
		Handled: hb.w.handled.Load(), HandledPerSec: per, InFlight: hb.w.inflight.Load(),
		MemoryBytes: wire.ProcessMemory(),
	})
	if err != nil {
		return
	}
	beat := wire.WorkerBeat{Worker: hb.w.id, Op: op}
	var features []string
	if _, ok := hb.w.events.(MessageHandler); ok {
		features = append(features, wire.FeatureEventBatches) // it subscribes to them (Start)
	}
	if _, ok := hb.w.events.(WebSocketConnectHandler); ok {
		features = append(features, wire.FeatureWSConnect) // gateways must ask it (Start subscribed)
	}
	features = append(features, wire.FeatureDirect) // Start subscribed to its direct subject
	beat.Features = features
	beat.Busy = op == "" && hb.w.isBusy()
	_ = hb.w.nc.PublishMsg(beat.Msg(hb.w.subj.WorkerHeartbeat(), body))
}

func (hb *heartbeat) close() {
	close(hb.stop)
	hb.done.Wait()
	_ = hb.sub.Unsubscribe()
	hb.announce(wire.OpBye)
}
