package worker_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/worker"
)

// describeEvents answers each message with what the handler saw of it.
type describeEvents struct{}

func (describeEvents) OnMessage(c *worker.Context, m worker.Message) error {
	return c.SendToCurrentClient(fmt.Appendf(nil, "%s|%s|%v|%t|%q",
		c.ClientID(), c.RemoteAddr(), c.Session()["user"], m.Binary, m.Data))
}

const batchGateway = "gwtest0001"

// batchEvent is one event of a hand-built batch.
type batchEvent struct {
	clientSeq string
	eventSeq  uint64
	remote    string
	session   string
	data      string
	binary    bool
}

// publishBatch publishes events as one batch, the way a gateway does.
func publishBatch(t *testing.T, nc *nats.Conn, evs []batchEvent) {
	t.Helper()
	publishBatchDeadline(t, nc, evs, "")
}

// publishBatchDeadline is publishBatch with an Sb-Deadline ("": none).
func publishBatchDeadline(t *testing.T, nc *nats.Conn, evs []batchEvent, deadline string) {
	t.Helper()
	subj, _ := wire.NewSubjects("sb")
	reply := subj.AppendGatewayBatchReply(nil, batchGateway)
	var spec, body []byte
	h := nats.Header{}
	anySession := false
	for _, e := range evs {
		reply = wire.AppendBatchEntry(reply, e.clientSeq, e.eventSeq)
		spec = wire.AppendFrameSpec(spec, wire.Frame{Data: []byte(e.data), Binary: e.binary})
		body = append(body, e.data...)
		h.Add(wire.HdrRemote, e.remote)
		h.Add(wire.HdrSession, e.session)
		anySession = anySession || e.session != ""
	}
	if !anySession {
		h.Del(wire.HdrSession)
	}
	h.Set(wire.HdrFrames, string(spec))
	if deadline != "" {
		h.Set(wire.HdrDeadline, deadline)
	}
	m := &nats.Msg{Subject: subj.EventBatch(wire.EventMessage), Reply: string(reply), Header: h, Data: body}
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
}

// replies subscribes to the event replies of batchGateway, alone and in
// reply batches, and returns each reply as "subject => body". A reply
// must be the bare body of one text frame, alone or in a batch.
func replies(t *testing.T, nc *nats.Conn) chan string {
	t.Helper()
	subj, _ := wire.NewSubjects("sb")
	ch := make(chan string, 64)
	single := func(m *nats.Msg) {
		if len(m.Header) != 0 {
			t.Errorf("reply on %s has headers %v, want a bare body", m.Subject, m.Header)
		}
		ch <- m.Subject + " => " + string(m.Data)
	}
	batched := func(m *nats.Msg) {
		if len(m.Header) != 2 {
			t.Errorf("reply batch has headers %v, want a reply list and a frame list", m.Header)
		}
		sc := wire.NewReplyBatchScanner(m)
		for sc.Scan() {
			r := sc.Reply()
			if r.Frames != strconv.Itoa(len(r.Body)) {
				t.Errorf("batched reply has frames %q for %d bytes, want one text frame", r.Frames, len(r.Body))
			}
			ch <- subj.GatewayReply(batchGateway, strconv.FormatUint(r.ClientSeq, 36), strconv.FormatUint(r.EventSeq, 36)) +
				" => " + string(r.Body)
		}
		if err := sc.Err(); err != nil {
			t.Errorf("reply batch: %v", err)
		}
	}
	// One subscription, so that replies arrive in the order they were sent.
	_, err := nc.Subscribe("sb.gw."+batchGateway+".>", func(m *nats.Msg) {
		if m.Subject == subj.GatewayReplyBatch(batchGateway) {
			batched(m)
		} else {
			single(m)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return ch
}

// nextReply returns the next reply as "subject => body".
func nextReply(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no reply")
		return ""
	}
}

func TestBatchDispatchedAsSingleEvents(t *testing.T) {
	nc := startWorker(t, describeEvents{})
	ch := replies(t, nc)
	publishBatch(t, nc, []batchEvent{
		{clientSeq: "1f", eventSeq: 3, remote: "10.0.0.7:51234", data: "hello"},
		{clientSeq: "2", eventSeq: 36, remote: "10.0.0.8:1", data: "\x00\x01", binary: true},
		{clientSeq: "a", eventSeq: 1, remote: "[::1]:9", session: `{"user":"ann"}`, data: "hi ann"},
	})
	want := map[string]bool{
		`sb.gw.gwtest0001.r.1f.3 => gwtest0001-1f|10.0.0.7:51234|<nil>|false|"hello"`: true,
		`sb.gw.gwtest0001.r.2.10 => gwtest0001-2|10.0.0.8:1|<nil>|true|"\x00\x01"`:    true,
		`sb.gw.gwtest0001.r.a.1 => gwtest0001-a|[::1]:9|ann|false|"hi ann"`:           true,
	}
	for range len(want) {
		got := nextReply(t, ch)
		if !want[got] {
			t.Errorf("unexpected reply %s", got)
		}
		delete(want, got)
	}
	for w := range want {
		t.Errorf("missing reply %s", w)
	}
}

// TestMalformedBatchDropped: a batch whose parts disagree is dropped
// whole, and the worker goes on taking batches. With one handler at a
// time, replies leave the worker in the order its events came, so had
// any event of the bad batch been handled, its reply would come first.
func TestMalformedBatchDropped(t *testing.T) {
	nc := startWorker(t, describeEvents{}, worker.MaxConcurrency(1))
	ch := replies(t, nc)
	subj, _ := wire.NewSubjects("sb")
	bad := &nats.Msg{
		Subject: subj.EventBatch(wire.EventMessage),
		Reply:   "sb.gw." + batchGateway + ".b.1.1.2.1",
		Header:  nats.Header{wire.HdrFrames: {"1,1"}, wire.HdrRemote: {"10.0.0.7:1"}}, // one remote for two events
		Data:    []byte("xy"),
	}
	if err := nc.PublishMsg(bad); err != nil {
		t.Fatal(err)
	}
	publishBatch(t, nc, []batchEvent{
		{clientSeq: "3", eventSeq: 1, remote: "10.0.0.9:1", data: "a"},
		{clientSeq: "4", eventSeq: 1, remote: "10.0.0.9:2", data: "b"},
	})
	for _, want := range []string{
		`sb.gw.gwtest0001.r.3.1 => gwtest0001-3|10.0.0.9:1|<nil>|false|"a"`,
		`sb.gw.gwtest0001.r.4.1 => gwtest0001-4|10.0.0.9:2|<nil>|false|"b"`,
	} {
		if got := nextReply(t, ch); got != want {
			t.Fatalf("got reply %s, want %s", got, want)
		}
	}
}

// TestStaleEventsSkipped: an event or a batch whose Sb-Deadline passed
// more than the allowed skew ago is not handled and not answered, nor is
// one whose deadline cannot be read (fail closed); one within the skew or
// in the future is. With one handler at a time, the events of one subject
// are handled, and answered, in the order they came, and each stale one
// comes before a fresh one of its subject: had it been handled, its reply
// would be among the first three.
func TestStaleEventsSkipped(t *testing.T) {
	nc := startWorker(t, describeEvents{}, worker.MaxConcurrency(1), worker.DeadlineSkew(time.Second))
	ch := replies(t, nc)
	subj, _ := wire.NewSubjects("sb")
	ms := func(d time.Duration) string { return strconv.FormatInt(time.Now().Add(d).UnixMilli(), 10) }
	single := func(seq, deadline, data string) {
		m := &nats.Msg{
			Subject: subj.Event(wire.EventMessage),
			Reply:   subj.GatewayReply(batchGateway, seq, "1"),
			Header:  nats.Header{wire.HdrClient: {batchGateway + "-" + seq}, wire.HdrRemote: {"10.0.0.1:1"}, wire.HdrDeadline: {deadline}},
			Data:    []byte(data),
		}
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	single("1", ms(-2*time.Second), "stale")
	single("2", "soon", "unreadable")
	publishBatchDeadline(t, nc, []batchEvent{
		{clientSeq: "3", eventSeq: 1, remote: "10.0.0.9:1", data: "a"},
		{clientSeq: "4", eventSeq: 1, remote: "10.0.0.9:2", data: "b"},
	}, ms(-2*time.Second))
	single("5", ms(-500*time.Millisecond), "within the skew")
	publishBatchDeadline(t, nc, []batchEvent{
		{clientSeq: "6", eventSeq: 1, remote: "10.0.0.9:1", data: "c"},
		{clientSeq: "7", eventSeq: 1, remote: "10.0.0.9:2", data: "d"},
	}, ms(time.Minute))
	want := map[string]bool{
		`sb.gw.gwtest0001.r.5.1 => gwtest0001-5|10.0.0.1:1|<nil>|false|"within the skew"`: true,
		`sb.gw.gwtest0001.r.6.1 => gwtest0001-6|10.0.0.9:1|<nil>|false|"c"`:               true,
		`sb.gw.gwtest0001.r.7.1 => gwtest0001-7|10.0.0.9:2|<nil>|false|"d"`:               true,
	}
	for range len(want) {
		if got := nextReply(t, ch); !want[got] {
			t.Fatalf("got reply %s, want one of %v", got, want)
		} else {
			delete(want, got)
		}
	}
}
