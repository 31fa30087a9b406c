package wire_test

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// replyBatch builds a reply batch message; nil session lists leave their
// headers out.
func replyBatch(replies, frames, body string, sets, updates []string) *nats.Msg {
	h := nats.Header{}
	wire.SetReplyHeader(h, []byte(replies), []byte(frames), sets, updates)
	return &nats.Msg{Subject: "sb.gw.k3x7q2mz4a.rb", Header: h, Data: []byte(body)}
}

// scanReplies returns the replies of a batch without session changes, or
// the scanner's error.
func scanReplies(replies, frames, body string) ([]wire.BatchedReply, error) {
	return scan(replyBatch(replies, frames, body, nil, nil))
}

func scan(m *nats.Msg) ([]wire.BatchedReply, error) {
	var out []wire.BatchedReply
	sc := wire.NewReplyBatchScanner(m)
	for sc.Scan() {
		out = append(out, sc.Reply())
	}
	return out, sc.Err()
}

func TestReplyBatchRoundTrip(t *testing.T) {
	// Three replies as a worker builds them: two frames, none, one.
	var refs, spec []byte
	refs = wire.AppendReplyRef(refs, "1f.3", 2)
	spec = wire.AppendFrameSpec(spec, wire.Frame{Data: []byte("echo")})
	spec = wire.AppendFrameSpec(spec, wire.Frame{Data: []byte{1, 2}, Binary: true})
	refs = wire.AppendReplyRef(refs, "2.1", 0)
	refs = wire.AppendReplyRef(refs, "a.z", 1)
	spec = wire.AppendFrameSpec(spec, wire.Frame{})
	if string(refs) != "1f.3.2,2.1.0,a.z.1" || string(spec) != "4,b2,0" {
		t.Fatalf("built %q and %q", refs, spec)
	}
	got, err := scanReplies(string(refs), string(spec), "echo\x01\x02")
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.BatchedReply{
		{ClientSeq: 51, EventSeq: 3, Frames: "4,b2", Body: []byte("echo\x01\x02")},
		{ClientSeq: 2, EventSeq: 1},
		{ClientSeq: 10, EventSeq: 35, Frames: "0"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d replies, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.ClientSeq != w.ClientSeq || g.EventSeq != w.EventSeq || g.Frames != w.Frames || string(g.Body) != string(w.Body) {
			t.Errorf("reply %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	// Each reply's frames read back alone as a reply's frame list does.
	var frames []string
	for _, r := range got {
		if err := wire.EachFrame(r.Frames, r.Body, func(f wire.Frame) { frames = append(frames, string(f.Data)) }); err != nil {
			t.Fatal(err)
		}
	}
	if len(frames) != 3 || frames[0] != "echo" || frames[1] != "\x01\x02" || frames[2] != "" {
		t.Errorf("frames %q", frames)
	}
}

func TestReplyBatchSessions(t *testing.T) {
	m := replyBatch("1.1.1,2.1.0,3.1.1", "1,1", "ab",
		[]string{"", `{"a":1}`, ""}, []string{`{"n":2}`, "", ""})
	got, err := scan(m)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ set, update string }{{"", `{"n":2}`}, {`{"a":1}`, ""}, {"", ""}}
	if len(got) != len(want) {
		t.Fatalf("%d replies, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].SessionSet != w.set || got[i].SessionUpdate != w.update {
			t.Errorf("reply %d: set %q, update %q; want %q, %q", i, got[i].SessionSet, got[i].SessionUpdate, w.set, w.update)
		}
	}
	for _, bad := range []*nats.Msg{
		replyBatch("1.1.1,2.1.0", "1", "a", []string{"{}"}, nil),
		replyBatch("1.1.1,2.1.0", "1", "a", nil, []string{"{}", "", "{}"}),
		replyBatch("", "", "", nil, []string{"{}"}),
	} {
		if _, err := scan(bad); !errors.Is(err, wire.ErrBadReplyBatch) {
			t.Errorf("sets %q, updates %q: error %v, want ErrBadReplyBatch",
				bad.Header.Values(wire.HdrSessionSet), bad.Header.Values(wire.HdrSessionUpd), err)
		}
	}
}

func TestReplyBatchFramesNotAppendable(t *testing.T) {
	// A reply's body must not let an append reach the next reply's frames.
	got, err := scanReplies("1.1.1,2.1.1", "2,2", "aabb")
	if err != nil {
		t.Fatal(err)
	}
	if cap(got[0].Body) != 2 {
		t.Errorf("first body has capacity %d, want 2", cap(got[0].Body))
	}
}

func TestReplyBatchMalformed(t *testing.T) {
	for _, c := range []struct{ name, replies, frames, body string }{
		{"empty entry", "1.1.1,,2.1.0", "2", "ab"},
		{"two tokens", "1.1,2.1.0", "", ""},
		{"bad client token", "!.1.0", "", ""},
		{"bad event token", "1.?.0", "", ""},
		{"bad count", "1.1.x", "", ""},
		{"negative count", "1.1.-1", "", ""},
		{"more frames than listed", "1.1.2", "2", "ab"},
		{"frames left over", "1.1.1", "2,1", "abc"},
		{"body left over", "1.1.1", "2", "abc"},
		{"body too short", "1.1.1", "3", "ab"},
		{"bad frame entry", "1.1.2", "1,,1", "ab"},
		{"no replies, a frame", "", "1", "a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := scanReplies(c.replies, c.frames, c.body)
			if !errors.Is(err, wire.ErrBadReplyBatch) {
				t.Errorf("error %v, want ErrBadReplyBatch", err)
			}
		})
	}
}

func TestReplyBatchScanAllocatesNothing(t *testing.T) {
	m := replyBatch("1f.3.1,2.1.0,a.z.1", "12,2", "hello, worldhi", nil, []string{"", `{"n":1}`, ""})
	allocs := testing.AllocsPerRun(100, func() {
		sc := wire.NewReplyBatchScanner(m)
		for sc.Scan() {
		}
		if sc.Err() != nil {
			t.Fatal(sc.Err())
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocs per batch, want 0", allocs)
	}
}
