package worker_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/worker"
)

// framesEvents answers each message with the frames its text names.
type framesEvents struct{}

func (framesEvents) OnMessage(c *worker.Context, m worker.Message) error {
	switch m.Text() {
	case "text":
		return c.SendToCurrentClient([]byte("hello"))
	case "binary":
		return c.SendToCurrentClient([]byte{1, 2}, bus.Binary())
	case "two":
		_ = c.SendToCurrentClient([]byte("a"))
		return c.SendToCurrentClient([]byte("bc"))
	case "empty":
		return c.SendToCurrentClient(nil)
	}
	return nil
}

// TestReplyFrames: one non-empty text frame travels as the bare body with
// no headers; anything else keeps its Sb-Frames list (protocol.md §5.2).
func TestReplyFrames(t *testing.T) {
	nc := startWorker(t, framesEvents{})
	subj, _ := wire.NewSubjects("sb")
	for _, tc := range []struct{ msg, frames, body string }{
		{"text", "", "hello"},
		{"binary", "b2", "\x01\x02"},
		{"two", "1,2", "abc"},
		{"empty", "0", ""},
		{"nothing", "", ""},
	} {
		reply, err := nc.RequestMsg(&nats.Msg{
			Subject: subj.Event(wire.EventMessage),
			Header:  nats.Header{wire.HdrClient: {"gwtest0001-1"}},
			Data:    []byte(tc.msg),
		}, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tc.msg, err)
		}
		if got := reply.Header.Get(wire.HdrFrames); got != tc.frames || string(reply.Data) != tc.body {
			t.Errorf("%s: Sb-Frames %q body %q, want %q %q", tc.msg, got, reply.Data, tc.frames, tc.body)
		}
		if tc.frames == "" && len(reply.Header) != 0 {
			t.Errorf("%s: reply headers %v, want none", tc.msg, reply.Header)
		}
		var n int
		if err := wire.EachFrame(tc.frames, reply.Data, func(wire.Frame) { n++ }); err != nil || (n == 0) != (tc.msg == "nothing") {
			t.Errorf("%s: %d frames read back, %v", tc.msg, n, err)
		}
	}
}
