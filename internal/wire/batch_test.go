package wire_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

const batchGateway = "k3x7q2mz4a"

// batchMsg builds an event batch as a gateway publishes it. A nil
// sessions leaves Sb-Session out.
func batchMsg(t *testing.T, reply, frames string, remotes, sessions []string, body string) *nats.Msg {
	t.Helper()
	subj := batchSubjects(t)
	h := nats.Header{}
	wire.SetBatchHeader(h, []string{frames}, remotes, nil, sessions)
	return &nats.Msg{Subject: subj.EventBatch(wire.EventMessage), Reply: reply, Header: h, Data: []byte(body)}
}

func batchSubjects(t *testing.T) wire.Subjects {
	t.Helper()
	s, err := wire.NewSubjects("sb")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// split returns the events of m, failing the test on an error.
func split(t *testing.T, m *nats.Msg) []wire.BatchEvent {
	t.Helper()
	var evs []wire.BatchEvent
	if err := batchSubjects(t).SplitEventBatch(m, func(e wire.BatchEvent) { evs = append(evs, e) }); err != nil {
		t.Fatalf("SplitEventBatch: %v", err)
	}
	return evs
}

func TestSplitEventBatch(t *testing.T) {
	subj := batchSubjects(t)
	reply := "sb.gw." + batchGateway + ".b.1f.3.2.1.a.z"
	remotes := []string{"10.0.0.7:51234", "10.0.0.8:1", "[::1]:9"}
	m := batchMsg(t, reply, "2,b3,0", remotes, []string{`{"user":"ann","n":2}`, "", `{}`}, "hi\x00\x01\xff")
	want := []wire.BatchEvent{
		{ClientID: batchGateway + "-1f", Reply: subj.GatewayReply(batchGateway, "1f", "3"), Gateway: batchGateway, Ref: "1f.3", Remote: remotes[0], Session: `{"user":"ann","n":2}`, Data: []byte("hi")},
		{ClientID: batchGateway + "-2", Reply: subj.GatewayReply(batchGateway, "2", "1"), Gateway: batchGateway, Ref: "2.1", Remote: remotes[1], Data: []byte("\x00\x01\xff"), Binary: true},
		{ClientID: batchGateway + "-a", Reply: subj.GatewayReply(batchGateway, "a", "z"), Gateway: batchGateway, Ref: "a.z", Remote: remotes[2], Session: `{}`, Data: []byte{}},
	}
	checkEvents(t, split(t, m), want)

	// No client of the batch has a session: the header is absent.
	m.Header.Del(wire.HdrSession)
	for i := range want {
		want[i].Session = ""
	}
	checkEvents(t, split(t, m), want)
}

func checkEvents(t *testing.T, got, want []wire.BatchEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.ClientID != w.ClientID || g.Reply != w.Reply || g.Gateway != w.Gateway || g.Ref != w.Ref || g.Remote != w.Remote || g.Session != w.Session ||
			string(g.Data) != string(w.Data) || g.Binary != w.Binary {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// TestSplitEventBatchEventsDoNotOverlap: each event's data ends where its
// frame ends, so a handler appending to it cannot overwrite the next one.
func TestSplitEventBatchEventsDoNotOverlap(t *testing.T) {
	m := batchMsg(t, "sb.gw."+batchGateway+".b.1.1.2.1", "1,1", []string{"a", "b"}, nil, "xy")
	evs := split(t, m)
	_ = append(evs[0].Data, '!')
	if string(evs[1].Data) != "y" {
		t.Fatalf("appending to event 0 changed event 1 to %q", evs[1].Data)
	}
}

func TestSplitEventBatchMalformed(t *testing.T) {
	ok := "sb.gw." + batchGateway + ".b.1.1.2.1"
	two := []string{"a", "b"}
	for _, tc := range []struct {
		name, reply, frames string
		remotes, sessions   []string
		body                string
	}{
		{"odd token count", "sb.gw." + batchGateway + ".b.1.1.2", "1,1", two, nil, "xy"},
		{"wrong prefix", "other.gw." + batchGateway + ".b.1.1.2.1", "1,1", two, nil, "xy"},
		{"event reply subject", "sb.gw." + batchGateway + ".r.1.1", "1", two[:1], nil, "x"},
		{"no events", "sb.gw." + batchGateway + ".b.", "", nil, nil, ""},
		{"no gateway id", "sb.gw..b.1.1", "1", two[:1], nil, "x"},
		{"empty token", "sb.gw." + batchGateway + ".b.1..2.1", "1,1", two, nil, "xy"},
		{"bad client token", "sb.gw." + batchGateway + ".b.1.1.!.1", "1,1", two, nil, "xy"},
		{"too few remotes", ok, "1,1", two[:1], nil, "xy"},
		{"too many remotes", ok, "1,1", []string{"a", "b", "c"}, nil, "xy"},
		{"session count mismatch", ok, "1,1", two, []string{`{}`}, "xy"},
		{"frame list too short", ok, "2", two, nil, "xy"},
		{"frame list too long", ok, "1,0,1", two, nil, "xy"},
		{"frame list longer than body", ok, "1,5", two, nil, "xy"},
		{"body longer than frame list", ok, "1,1", two, nil, "xyz"},
		{"bad frame length", ok, "1,q", two, nil, "xy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := batchMsg(t, tc.reply, tc.frames, tc.remotes, tc.sessions, tc.body)
			called := 0
			err := batchSubjects(t).SplitEventBatch(m, func(wire.BatchEvent) { called++ })
			if !errors.Is(err, wire.ErrBadBatch) {
				t.Fatalf("err = %v, want ErrBadBatch", err)
			}
			if called != 0 {
				t.Fatalf("fn called %d times for a malformed batch", called)
			}
		})
	}
}

func TestBatchReplyRoundTrip(t *testing.T) {
	subj := batchSubjects(t)
	b := subj.AppendGatewayBatchReply([]byte("keep"), batchGateway)
	b = wire.AppendBatchEntry(b, "1f", 3)
	b = wire.AppendBatchEntry(b, "2", 12345)
	reply, ok := strings.CutPrefix(string(b), "keep")
	if !ok {
		t.Fatalf("AppendGatewayBatchReply dropped what b held: %q", b)
	}
	if wild := subj.GatewayBatchReplies(batchGateway); !strings.HasPrefix(reply, strings.TrimSuffix(wild, ">")) {
		t.Errorf("reply %q is not under the gateway's wildcard %q", reply, wild)
	}
	gw, entries, err := subj.BatchReply(reply)
	if err != nil || gw != batchGateway || strings.Join(entries, " ") != "1f 3 2 9ix" {
		t.Fatalf("BatchReply(%q) = %q %q %v", reply, gw, entries, err)
	}
	if got := subj.EventBatch(wire.EventMessage); got != "sb.evb.message" {
		t.Errorf("EventBatch = %q", got)
	}
	if got := string(subj.AppendEventBatch([]byte("x"), wire.EventMessage)); got != "xsb.evb.message" {
		t.Errorf("AppendEventBatch = %q", got)
	}
	// The batch subject is not an event subject: a worker that subscribes
	// <prefix>.ev.* must not receive batches.
	if strings.HasPrefix(subj.EventBatch(wire.EventMessage), subj.Event("")) {
		t.Errorf("batch subject %q is under the event subjects %q", subj.EventBatch(wire.EventMessage), subj.Event("*"))
	}
}
