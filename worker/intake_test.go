package worker_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/worker"
)

// blocker holds every message's handler until release is closed.
type blocker struct{ release chan struct{} }

func (b blocker) OnMessage(*worker.Context, worker.Message) error {
	<-b.release
	return nil
}

// TestIntakeIsBoundedInBytes: a worker whose only handler is busy holds
// at most MaxPendingBytes of unstarted events per subscription; the NATS
// client drops the rest, and the worker counts them (Dropped, within a
// heartbeat) instead of buffering without bound. A bound of 0 is refused.
func TestIntakeIsBoundedInBytes(t *testing.T) {
	ns := sbtest.NATS(t)
	url := ns.ClientURL()
	if _, err := worker.New(sbtest.Conn(t, url), blocker{}, worker.MaxPendingBytes(0)); err == nil {
		t.Fatal("MaxPendingBytes(0): want an error")
	}
	b := blocker{release: make(chan struct{})}
	w := sbtest.Worker(t, url, b, worker.MaxConcurrency(1), worker.MaxPendingBytes(8<<10))
	t.Cleanup(func() { close(b.release) })

	nc := sbtest.Conn(t, url)
	if err := nc.Publish("sb.ev.message", []byte("first")); err != nil {
		t.Fatal(err)
	}
	sbtest.Eventually(t, 5*time.Second, "the first event in its handler", func() bool { return w.InFlight() == 1 })
	// One more waits in the subscription's callback, about seven fit in
	// 8 KiB; of 40 events of 1 KiB, the rest must be dropped.
	const sent = 40
	body := bytes.Repeat([]byte("x"), 1<<10)
	for range sent {
		if err := nc.PublishMsg(&nats.Msg{Subject: "sb.ev.message", Data: body}); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	sbtest.Eventually(t, 5*time.Second, "the overflow counted", func() bool { return w.Dropped() >= sent-10 })
	t.Logf("%d events of 1 KiB sent to a busy worker with an 8 KiB intake: %d dropped", sent, w.Dropped())
	if d := w.Dropped(); d > sent {
		t.Errorf("%d dropped of %d sent", d, sent)
	}
}

// TestDirectEvents: a worker announces the direct feature and answers an
// event sent to its own direct subject like one from the queue group;
// a kind it does not take (wsconnect without OnWebSocketConnect) is not
// answered.
func TestDirectEvents(t *testing.T) {
	ns := sbtest.NATS(t)
	url := ns.ClientURL()
	nc := sbtest.Conn(t, url)
	features := make(chan string, 16)
	if _, err := nc.Subscribe("sb.whb", func(m *nats.Msg) {
		if m.Header.Get(wire.HdrWorker) != "" {
			select {
			case features <- m.Header.Get(wire.HdrFeatures):
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	w := sbtest.Worker(t, url, introspect{})
	select {
	case f := <-features:
		if !strings.Contains(f, wire.FeatureDirect) {
			t.Fatalf("heartbeat features %q lack %q", f, wire.FeatureDirect)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no worker heartbeat")
	}
	subj, err := wire.NewSubjects("")
	if err != nil {
		t.Fatal(err)
	}
	msg := &nats.Msg{Subject: subj.WorkerDirect(w.ID(), wire.EventMessage), Header: nats.Header{
		wire.HdrClient: {"gwdirect01-1"}, wire.HdrRedelivered: {"1"}}, Data: []byte("hi")}
	reply, err := nc.RequestMsg(msg, 5*time.Second)
	if err != nil {
		t.Fatalf("direct message event: %v", err)
	}
	if !strings.Contains(string(reply.Data), "worker="+w.ID()+" redelivered=true") {
		t.Errorf("reply %q, want it from this worker, redelivered", reply.Data)
	}
	if _, err := nc.Request(subj.WorkerDirect(w.ID(), wire.EventWebSocketConnect), []byte("{}"), 300*time.Millisecond); err == nil {
		t.Error("a wsconnect event was answered by a worker without OnWebSocketConnect")
	}
}
