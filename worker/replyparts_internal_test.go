package worker

import (
	"context"
	"strings"
	"testing"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// TestBatchPartsAgreeWithTheReply: what a reply batch takes of a reply
// (batchParts, kept while the reply is built, never read back from it)
// is what the built reply says: its frame list and how many frames it
// holds, its session change, and whether it closes the client. Each case
// is built twice on one pooled reply, as a retried handler does, and once
// more after the reply went back to the pool.
func TestBatchPartsAgreeWithTheReply(t *testing.T) {
	w, _ := newTestWorker(t)
	cases := []struct {
		name  string
		build func(c *Context)
	}{
		{"nothing", func(*Context) {}},
		{"one text frame", func(c *Context) { _ = c.SendToCurrentClient([]byte("hi")) }},
		{"frames", func(c *Context) {
			_ = c.SendToCurrentClient([]byte("a"))
			_ = c.SendToCurrentClient([]byte{1, 2}, bus.Binary())
			_ = c.SendToCurrentClient(nil)
		}},
		{"set", func(c *Context) { c.SetSession(bus.Session{"a": 1}) }},
		{"update", func(c *Context) { c.UpdateSession(bus.Session{"b": "x"}) }},
		{"close", func(c *Context) { c.CloseCurrentClient([]byte("bye")) }},
		{"frames and update", func(c *Context) {
			_ = c.SendToCurrentClient([]byte("a"))
			c.UpdateSession(bus.Session{"n": map[string]any{"x": 1}})
		}},
	}
	for _, tc := range cases {
		for round := range 3 {
			c := newContext(context.Background(), w, event{clientID: "abcdefghij-1", session: `{"old":true}`})
			tc.build(c)
			m := c.reply()
			if round == 1 {
				m = c.reply() // built again, as after a panic in a first attempt
			}
			p, ok := c.out.batchParts()
			_, closes := m.Header[wire.HdrClose]
			if ok == closes {
				t.Fatalf("%s: batchParts ok=%v, reply closes=%v", tc.name, ok, closes)
			}
			if closes {
				c.release()
				continue
			}
			spec := m.Header.Get(wire.HdrFrames)
			if spec == "" && len(m.Data) > 0 {
				spec = string(wire.AppendFrameSpec(nil, wire.Frame{Data: m.Data}))
			}
			n := 0
			if spec != "" {
				n = strings.Count(spec, ",") + 1
			}
			if string(p.spec) != spec || p.frames != n || string(p.body) != string(m.Data) {
				t.Errorf("%s: parts spec %q (%d frames) body %q; reply %q (%d frames) body %q",
					tc.name, p.spec, p.frames, p.body, spec, n, m.Data)
			}
			if p.set != m.Header.Get(wire.HdrSessionSet) || p.update != m.Header.Get(wire.HdrSessionUpd) {
				t.Errorf("%s: parts set %q update %q; reply set %q update %q", tc.name, p.set, p.update,
					m.Header.Get(wire.HdrSessionSet), m.Header.Get(wire.HdrSessionUpd))
			}
			c.release()
		}
	}
}
