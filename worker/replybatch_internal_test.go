package worker

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/natsserver"
)

type frameEvents struct{}

func (frameEvents) OnMessage(*Context, Message) error { return nil }

// newTestWorker returns a worker that is not started, and a second
// connection to the same server.
func newTestWorker(t *testing.T) (*Worker, *nats.Conn) {
	t.Helper()
	srv, err := natsserver.Start(natsserver.Config{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	connect := func() *nats.Conn {
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	w, err := New(connect(), frameEvents{}, Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return w, connect()
}

// batchedEvent is an event of gateway gw as dispatchBatch makes it.
func batchedEvent(w *Worker, gw, clientSeq, eventSeq string) *event {
	ev := &event{kind: wire.EventMessage, gateway: gw, reply: w.subj.GatewayReply(gw, clientSeq, eventSeq)}
	ev.ref = ev.reply[len(ev.reply)-len(clientSeq)-1-len(eventSeq):]
	return ev
}

// TestWaitingRepliesGoAsOneBatch: the replies waiting when the publisher
// runs go out as one batch per gateway, and a lone reply goes as it
// would without batches: on its own subject, a bare body. A gateway whose
// only reply did not fit gets nothing.
func TestWaitingRepliesGoAsOneBatch(t *testing.T) {
	w, nc := newTestWorker(t)
	msgs := make(chan *nats.Msg, 8)
	if _, err := nc.ChanSubscribe("sb.gw.>", msgs); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Until the publisher starts, whatever add takes waits.
	w.rb.running, w.rb.limit = true, maxReplyBatchBytes
	for _, r := range []struct {
		gw, seq, ev, spec, body, set, update string
	}{
		{"gwa", "1", "5", "5", "hello", "", ""},
		{"gwb", "7", "2", "2", "hi", "", ""},
		{"gwa", "2", "1", "", "", "", `{"n":2}`},
		{"gwa", "3", "z", "b2,1", "\x01\x02!", `{"a":1}`, ""},
		{"gwd", "4", "4", "", "", "{}", ""},
	} {
		parts := replyParts{spec: []byte(r.spec), body: []byte(r.body), frames: specFrames(r.spec), set: r.set, update: r.update}
		if !w.rb.add(batchedEvent(w, r.gw, r.seq, r.ev), parts) {
			t.Fatalf("add %+v declined", r)
		}
	}
	w.rb.limit = 10
	if w.rb.add(batchedEvent(w, "gwc", "9", "9"), replyParts{spec: []byte("20"), frames: 1, body: make([]byte, 20)}) {
		t.Fatal("add took a reply past the batch's byte limit")
	}
	w.rb.limit = maxReplyBatchBytes
	w.startReplies()
	got := map[string]*nats.Msg{}
	for range 3 {
		select {
		case m := <-msgs:
			got[m.Subject] = m
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d messages, want 3", len(got))
		}
	}
	batch := got["sb.gw.gwa.rb"]
	if batch == nil || batch.Header.Get(wire.HdrReplies) != "1.5.1,2.1.0,3.z.2" ||
		batch.Header.Get(wire.HdrFrames) != "5,b2,1" || string(batch.Data) != "hello\x01\x02!" ||
		!slices.Equal(batch.Header.Values(wire.HdrSessionUpd), []string{"", `{"n":2}`, ""}) ||
		!slices.Equal(batch.Header.Values(wire.HdrSessionSet), []string{"", "", `{"a":1}`}) {
		t.Errorf("batch to gwa: %+v", batch)
	}
	alone := got["sb.gw.gwb.r.7.2"]
	if alone == nil || len(alone.Header) != 0 || string(alone.Data) != "hi" {
		t.Errorf("reply to gwb: %+v", alone)
	}
	if set := got["sb.gw.gwd.r.4.4"]; set == nil || len(set.Header) != 1 || set.Header.Get(wire.HdrSessionSet) != "{}" {
		t.Errorf("reply to gwd: %+v", set)
	}
	// Stopping publishes what waits; a marker published after it comes
	// after anything the publisher sent.
	w.stopReplies()
	if err := w.nc.Publish("sb.gw.end", nil); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case m := <-msgs:
			if m.Subject == "sb.gw.end" {
				return
			}
			t.Errorf("unexpected message on %s: %q %v", m.Subject, m.Data, m.Header)
		case <-time.After(5 * time.Second):
			t.Fatal("the marker did not arrive")
		}
	}
}

// TestReplyBatchLimits: add declines what must go alone.
func TestReplyBatchLimits(t *testing.T) {
	w, _ := newTestWorker(t)
	ev := batchedEvent(w, "gwa", "1", "1")
	if w.rb.add(ev, replyParts{spec: []byte("1"), frames: 1, body: []byte("x")}) {
		t.Error("add took a reply while the publisher was not running")
	}
	w.rb.running, w.rb.limit = true, maxReplyBatchBytes
	defer func() { w.rb.running = false }()
	big := []byte(strings.Repeat("x", maxBatchReplyBytes+1))
	if w.rb.add(ev, replyParts{spec: []byte("16385"), frames: 1, body: big}) {
		t.Error("add took a reply bigger than maxBatchReplyBytes")
	}
	for i := range maxReplyBatch {
		if !w.rb.add(ev, replyParts{spec: []byte("1"), frames: 1, body: []byte("x")}) {
			t.Fatalf("add declined reply %d of a batch", i)
		}
	}
	if w.rb.add(ev, replyParts{spec: []byte("1"), frames: 1, body: []byte("x")}) {
		t.Errorf("add took reply %d of a batch of at most %d", maxReplyBatch+1, maxReplyBatch)
	}
	if !w.rb.add(batchedEvent(w, "gwb", "1", "1"), replyParts{spec: []byte("1"), frames: 1, body: []byte("x")}) {
		t.Error("a full batch to one gateway stopped replies to another")
	}
	// The byte limit: the frames of a batch stay below it.
	l := w.rb.waiting["gwb"]
	w.rb.limit = l.size() + 20
	if w.rb.add(batchedEvent(w, "gwb", "2", "1"), replyParts{spec: []byte("20"), frames: 1, body: []byte(strings.Repeat("y", 20))}) {
		t.Error("add took a reply past the batch's byte limit")
	}
}

// specFrames counts the frames of a frame list, as the reply being built
// counts them when they are queued.
func specFrames(spec string) int {
	if spec == "" {
		return 0
	}
	return strings.Count(spec, ",") + 1
}
