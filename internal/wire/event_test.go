package wire

import (
	"bytes"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestEventRoundTrip: what EventWriter.Fill writes, ReadEvent reads back,
// with the subjects the event's kind and reply name; optional headers are
// absent when they do not apply, also on a writer reused after an event
// that had them.
func TestEventRoundTrip(t *testing.T) {
	s, err := NewSubjects("app")
	if err != nil {
		t.Fatal(err)
	}
	e := NewEventWriter()
	events := []Event{
		{ClientID: "abcdefghij-1f", Remote: "10.0.0.1:5", Session: `{"a":1}`, Deadline: 1764547200123,
			Redelivered: true, Binary: true, Data: []byte{0, 1, 2}},
		{ClientID: "abcdefghij-2", Remote: "[::1]:7", Deadline: 1, Data: []byte("hi")},
		{ClientID: "abcdefghij-3", Deadline: 5},
	}
	for i, ev := range events {
		e.Fill(s, EventMessage, "abcdefghij", "1f", uint64(i+10), ev)
		m := &e.Msg
		if kind := s.EventKind(m.Subject); kind != EventMessage {
			t.Errorf("event %d: subject %q has kind %q", i, m.Subject, kind)
		}
		if seq, evSeq, ok := ParseGatewayReply(m.Reply); !ok || seq != 51 || evSeq != uint64(i+10) {
			t.Errorf("event %d: reply %q reads %d/%d %v", i, m.Reply, seq, evSeq, ok)
		}
		got := ReadEvent(m)
		if got.ClientID != ev.ClientID || got.Remote != ev.Remote || got.Session != ev.Session ||
			got.Deadline != ev.Deadline || got.Redelivered != ev.Redelivered || got.Binary != ev.Binary ||
			!bytes.Equal(got.Data, ev.Data) {
			t.Errorf("event %d: wrote %+v, read %+v", i, ev, got)
		}
		for _, h := range []struct {
			key string
			on  bool
		}{{HdrSession, ev.Session != ""}, {HdrBinary, ev.Binary}, {HdrRedelivered, ev.Redelivered}} {
			if _, ok := m.Header[h.key]; ok != h.on {
				t.Errorf("event %d: header %s present=%v, want %v", i, h.key, ok, h.on)
			}
		}
		e.Reset()
		if e.Msg.Subject != "" || e.Msg.Reply != "" || e.Msg.Data != nil {
			t.Errorf("event %d: Reset kept %q %q %q", i, e.Msg.Subject, e.Msg.Reply, e.Msg.Data)
		}
	}
}

// TestEventFillAllocatesNothing: a reused writer fills an event without
// an allocation (the gateway's read → publish path relies on it).
func TestEventFillAllocatesNothing(t *testing.T) {
	s, err := NewSubjects("sb")
	if err != nil {
		t.Fatal(err)
	}
	e := NewEventWriter()
	ev := Event{ClientID: "abcdefghij-1", Remote: "10.0.0.1:5", Session: `{"a":1}`, Deadline: 1764547200123,
		Binary: true, Data: []byte("x")}
	var seq uint64
	allocs := testing.AllocsPerRun(200, func() {
		seq++
		ev.Redelivered = seq%2 == 0
		e.Fill(s, EventMessage, "abcdefghij", "1", seq, ev)
		e.Reset()
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per Fill", allocs)
	}
}

// FuzzReadEvent: any header values read without a panic; the deadline is
// 0 only without the header, -1 only for a value ParseDeadline refuses,
// and otherwise the value itself.
func FuzzReadEvent(f *testing.F) {
	f.Add("abcdefghij-1", "1.2.3.4:5", "{}", "1764547200000", "1", "1", []byte("hi"))
	f.Add("", "", "", "", "", "", []byte{})
	f.Add("x", "y", "z", "-3", "0", "yes", []byte{0})
	f.Fuzz(func(t *testing.T, client, remote, session, dl, redelivered, binary string, data []byte) {
		h := nats.Header{}
		for k, v := range map[string]string{HdrClient: client, HdrRemote: remote, HdrSession: session,
			HdrDeadline: dl, HdrRedelivered: redelivered, HdrBinary: binary} {
			if v != "" {
				h.Set(k, v)
			}
		}
		ev := ReadEvent(&nats.Msg{Header: h, Data: data})
		ms, ok := ParseDeadline(dl)
		switch {
		case dl == "" && ev.Deadline != 0:
			t.Fatalf("no deadline read as %d", ev.Deadline)
		case dl != "" && !ok && ev.Deadline != -1:
			t.Fatalf("deadline %q read as %d, want -1", dl, ev.Deadline)
		case ok && ev.Deadline != ms:
			t.Fatalf("deadline %q read as %d", dl, ev.Deadline)
		}
		if ev.ClientID != client || ev.Remote != remote || ev.Session != session ||
			ev.Redelivered != (redelivered == "1") || ev.Binary != (binary == "1") || !bytes.Equal(ev.Data, data) {
			t.Fatalf("read %+v", ev)
		}
	})
}

func TestEventHeaderRoundTrip(t *testing.T) {
	for _, e := range []Event{
		{ClientID: "c1"},
		{ClientID: "c1", Remote: "1.2.3.4:5", Deadline: 1700000000123, Session: `{"a":1}`, Binary: true, Redelivered: true},
	} {
		got := ReadEvent(&nats.Msg{Header: e.Header()})
		if got.ClientID != e.ClientID || got.Remote != e.Remote || got.Deadline != e.Deadline || got.Session != e.Session ||
			got.Binary != e.Binary || got.Redelivered != e.Redelivered {
			t.Fatalf("wrote %+v, read %+v", e, got)
		}
	}
}
