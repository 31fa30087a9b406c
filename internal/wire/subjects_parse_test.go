package wire

import (
	"strconv"
	"strings"
	"testing"
)

// The parsers of subjects.go, each against its builder (round trip) and
// as a fuzz target: no input panics, and what a parser accepts, built
// again from what it returned, parses to the same thing.

func testSubjects(t testing.TB) Subjects {
	t.Helper()
	s, err := NewSubjects("app.prod")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b36(n uint64) string { return strconv.FormatUint(n, 36) }

func TestEventKindRoundTrip(t *testing.T) {
	s := testSubjects(t)
	for _, kind := range []string{EventWebSocketConnect, EventConnect, EventMessage, EventClose} {
		if got := s.EventKind(s.Event(kind)); got != kind {
			t.Errorf("EventKind(Event(%q)) = %q", kind, got)
		}
	}
	for _, other := range []string{"", "app.prod", "app.prod.ev", "app.prodx.ev.message", "sb.ev.message", s.EventBatch(EventMessage), s.Group("x")} {
		if got := s.EventKind(other); got != "" {
			t.Errorf("EventKind(%q) = %q, want none", other, got)
		}
	}
}

func FuzzEventKind(f *testing.F) {
	s := testSubjects(f)
	for _, seed := range []string{s.Event(EventMessage), "app.prod.ev.", "app.prod", "", "app.prod.evb.message"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, subject string) {
		kind := s.EventKind(subject)
		if kind != "" && s.Event(kind) != subject {
			t.Errorf("EventKind(%q) = %q, but Event(%q) = %q", subject, kind, kind, s.Event(kind))
		}
	})
}

func TestWorkerDirectKindRoundTrip(t *testing.T) {
	s := testSubjects(t)
	for _, kind := range []string{EventWebSocketConnect, EventConnect, EventMessage, EventClose} {
		for _, subject := range []string{s.WorkerDirect("w1", kind), string(s.AppendWorkerDirect(nil, "w1", kind))} {
			if got := s.WorkerDirectKind(subject, "w1"); got != kind {
				t.Errorf("WorkerDirectKind(%q) = %q, want %q", subject, got, kind)
			}
		}
	}
	for _, other := range []string{"", s.WorkerDirect("w2", EventMessage), s.WorkerDirect("w1x", EventMessage),
		s.WorkerDirect("w1", "a.b"), s.WorkerDirect("w1", ""), s.Event(EventMessage)} {
		if got := s.WorkerDirectKind(other, "w1"); got != "" {
			t.Errorf("WorkerDirectKind(%q) = %q, want none", other, got)
		}
	}
}

func FuzzWorkerDirectKind(f *testing.F) {
	s := testSubjects(f)
	for _, seed := range []string{s.WorkerDirect("w1", EventMessage), "app.prod.wd.w1.", "app.prod.wd.w1", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, subject string) {
		kind := s.WorkerDirectKind(subject, "w1")
		if kind != "" && s.WorkerDirect("w1", kind) != subject {
			t.Errorf("WorkerDirectKind(%q) = %q, but WorkerDirect(w1, %q) = %q", subject, kind, kind, s.WorkerDirect("w1", kind))
		}
	})
}

func TestGatewayReplyRoundTrip(t *testing.T) {
	s := testSubjects(t)
	for _, c := range [][2]uint64{{0, 0}, {1, 1}, {51, 10}, {1<<64 - 1, 1<<64 - 1}} {
		for _, subject := range []string{s.GatewayReply("gw1", b36(c[0]), b36(c[1])), string(s.AppendGatewayReply(nil, "gw1", b36(c[0]), c[1]))} {
			seq, evSeq, ok := ParseGatewayReply(subject)
			if !ok || seq != c[0] || evSeq != c[1] {
				t.Errorf("ParseGatewayReply(%q) = %d %d %v, want %d %d", subject, seq, evSeq, ok, c[0], c[1])
			}
		}
	}
	for _, bad := range []string{"", "x", "a.b", "app.prod.gw.g.r.1f.", "app.prod.gw.g.r..a", "app.prod.gw.g.r.1f.z_", "p.gw.g.r.1f.zzzzzzzzzzzzzzzzzzzz"} {
		if seq, evSeq, ok := ParseGatewayReply(bad); ok {
			t.Errorf("ParseGatewayReply(%q) = %d %d, accepted", bad, seq, evSeq)
		}
	}
}

func FuzzParseGatewayReply(f *testing.F) {
	s := testSubjects(f)
	for _, seed := range []string{s.GatewayReply("gw", "1f", "a"), "a.b", "..", "x.1.", "x.-1.2"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, subject string) {
		seq, evSeq, ok := ParseGatewayReply(subject)
		if !ok {
			return
		}
		if seq2, evSeq2, ok2 := ParseGatewayReply(s.GatewayReply("gw", b36(seq), b36(evSeq))); !ok2 || seq2 != seq || evSeq2 != evSeq {
			t.Errorf("%q parsed to %d %d; built again it parses to %d %d %v", subject, seq, evSeq, seq2, evSeq2, ok2)
		}
	})
}

func FuzzParseEventRef(f *testing.F) {
	f.Add("1f", "a")
	f.Add("", "a")
	f.Add("-1", "+2")
	f.Fuzz(func(t *testing.T, seqTok, evTok string) {
		seq, evSeq, ok := ParseEventRef(seqTok, evTok)
		if !ok {
			return
		}
		if seq2, evSeq2, ok2 := ParseEventRef(b36(seq), b36(evSeq)); !ok2 || seq2 != seq || evSeq2 != evSeq {
			t.Errorf("%q %q parsed to %d %d; built again %d %d %v", seqTok, evTok, seq, evSeq, seq2, evSeq2, ok2)
		}
	})
}

func FuzzBatchReply(f *testing.F) {
	s := testSubjects(f)
	b := s.AppendGatewayBatchReply(nil, "gw")
	b = AppendBatchEntry(b, "1f", 3)
	f.Add(string(b))
	f.Add("app.prod.gw.gw.b.")
	f.Add("app.prod.gw..b.1.2")
	f.Add("app.prod.gw.g.b.1.2.3")
	f.Fuzz(func(t *testing.T, subject string) {
		gw, entries, err := s.BatchReply(subject)
		if err != nil {
			return
		}
		if gw == "" || strings.Contains(gw, ".") || len(entries) == 0 || len(entries)%2 != 0 {
			t.Fatalf("BatchReply(%q) = %q %q: accepted a malformed subject", subject, gw, entries)
		}
		b := s.AppendGatewayBatchReply(nil, gw)
		for i := 0; i < len(entries); i += 2 {
			b = append(b, '.')
			b = append(b, entries[i]...)
			b = append(b, '.')
			b = append(b, entries[i+1]...)
		}
		if string(b) != subject {
			t.Errorf("BatchReply(%q) = %q %q, built again %q", subject, gw, entries, b)
		}
	})
}

func TestReplyRefRoundTrip(t *testing.T) {
	var b []byte
	want := [][3]uint64{{51, 10, 0}, {0, 0, 3}, {1<<64 - 1, 1, 1<<31 - 1}}
	for _, w := range want {
		b = AppendReplyRef(b, b36(w[0])+"."+b36(w[1]), int(w[2]))
	}
	entries := strings.Split(string(b), ",")
	if len(entries) != len(want) {
		t.Fatalf("AppendReplyRef list %q: %d entries, want %d", b, len(entries), len(want))
	}
	for i, e := range entries {
		seq, evSeq, frames, ok := ParseReplyRef(e)
		if !ok || seq != want[i][0] || evSeq != want[i][1] || uint64(frames) != want[i][2] {
			t.Errorf("ParseReplyRef(%q) = %d %d %d %v, want %v", e, seq, evSeq, frames, ok, want[i])
		}
	}
	for _, bad := range []string{"", "1", "1.2", "1.2.", "1.2.-1", "1..3", ".2.3", "1.2.3.4", "1.2.x"} {
		if _, _, _, ok := ParseReplyRef(bad); ok {
			t.Errorf("ParseReplyRef(%q) accepted", bad)
		}
	}
}

func FuzzParseReplyRef(f *testing.F) {
	f.Add("1f.a.2")
	f.Add("1.2.-1")
	f.Add("..")
	f.Fuzz(func(t *testing.T, entry string) {
		seq, evSeq, frames, ok := ParseReplyRef(entry)
		if !ok {
			return
		}
		if frames < 0 {
			t.Fatalf("ParseReplyRef(%q): %d frames", entry, frames)
		}
		again := string(AppendReplyRef(nil, b36(seq)+"."+b36(evSeq), frames))
		if seq2, evSeq2, frames2, ok2 := ParseReplyRef(again); !ok2 || seq2 != seq || evSeq2 != evSeq || frames2 != frames {
			t.Errorf("%q parsed to %d %d %d; built again %q parses to %d %d %d %v", entry, seq, evSeq, frames, again, seq2, evSeq2, frames2, ok2)
		}
	})
}

func TestGatewayReplyAndRef(t *testing.T) {
	s := testSubjects(t)
	reply, ref := s.gatewayReplyAndRef("gw", "1f", "a")
	if reply != s.GatewayReply("gw", "1f", "a") || ref != "1f.a" {
		t.Errorf("gatewayReplyAndRef = %q %q", reply, ref)
	}
}

func TestGatewayInbound(t *testing.T) {
	s := testSubjects(t)
	in := s.GatewayInbound("g1")
	for subject, want := range map[string]InboundKind{
		s.Gateway("g1"):                 InboundCommand,
		s.GatewayReply("g1", "1f", "a"): InboundReply,
		string(AppendBatchEntry(s.AppendGatewayBatchReply(nil, "g1"), "1f", 3)): InboundBatchBounce,
		s.GatewayReplyBatch("g1"):      InboundReplyBatch,
		s.Group("room"):                InboundFanout,
		s.Uid("u"):                     InboundFanout,
		s.All():                        InboundFanout,
		s.Gateway("g2"):                InboundFanout,
		s.GatewayReply("g2", "1", "1"): InboundFanout,
		s.GatewayReplyBatch("g10"):     InboundFanout,
		s.Gateway("g1") + "x":          InboundFanout,
	} {
		if got := in.Kind(subject); got != want {
			t.Errorf("Kind(%q) = %d, want %d", subject, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = in.Kind(s.Group("room")) }); n > 1 { // Group allocates its subject
		t.Errorf("Kind allocates")
	}
}

func FuzzGatewayInbound(f *testing.F) {
	s := testSubjects(f)
	in := s.GatewayInbound("g1")
	f.Add(s.Gateway("g1"))
	f.Add(s.GatewayReply("g1", "1", "2"))
	f.Add(s.GatewayReplyBatch("g1"))
	f.Add("app.prod.gw.g1.b.1.2")
	f.Fuzz(func(t *testing.T, subject string) {
		switch in.Kind(subject) {
		case InboundCommand:
			if subject != s.Gateway("g1") {
				t.Errorf("%q taken for a command", subject)
			}
		case InboundReplyBatch:
			if subject != s.GatewayReplyBatch("g1") {
				t.Errorf("%q taken for a reply batch", subject)
			}
		case InboundReply:
			if !strings.HasPrefix(subject, "app.prod.gw.g1.r.") {
				t.Errorf("%q taken for a reply", subject)
			}
		case InboundBatchBounce:
			if !strings.HasPrefix(subject, "app.prod.gw.g1.b.") {
				t.Errorf("%q taken for a batch bounce", subject)
			}
		}
	})
}

func TestQueryInboxRoundTrip(t *testing.T) {
	const inbox = "_INBOX.abc"
	if gw, ok := ParseQueryProbe(inbox, QueryProbe(inbox, "g1")); !ok || gw != "g1" {
		t.Errorf("ParseQueryProbe(QueryProbe) = %q %v", gw, ok)
	}
	for _, other := range []string{QueryAnswers(inbox), "_INBOX.abd.p.g1", "_INBOX.abc.p", ""} {
		if gw, ok := ParseQueryProbe(inbox, other); ok {
			t.Errorf("ParseQueryProbe(%q) = %q, accepted", other, gw)
		}
	}
	wild := strings.TrimSuffix(QueryInboxAll(inbox), ">")
	for _, sub := range []string{QueryAnswers(inbox), QueryProbe(inbox, "g1")} {
		if !strings.HasPrefix(sub, wild) {
			t.Errorf("%q is not under the inbox's wildcard %q", sub, QueryInboxAll(inbox))
		}
	}
}

func FuzzParseQueryProbe(f *testing.F) {
	const inbox = "_INBOX.abc"
	f.Add(QueryProbe(inbox, "g1"))
	f.Add(QueryAnswers(inbox))
	f.Fuzz(func(t *testing.T, subject string) {
		if gw, ok := ParseQueryProbe(inbox, subject); ok && QueryProbe(inbox, gw) != subject {
			t.Errorf("ParseQueryProbe(%q) = %q, built again %q", subject, gw, QueryProbe(inbox, gw))
		}
	})
}

func FuzzClassify(f *testing.F) {
	s := testSubjects(f)
	f.Add(s.Group("room 1"))
	f.Add(s.Uid("u"))
	f.Add(s.All())
	f.Add("app.prod.grp.")
	f.Fuzz(func(t *testing.T, subject string) {
		kind, tok, ok := s.Classify(subject)
		if !ok {
			return
		}
		var again string
		switch kind {
		case KindAll:
			again = s.All()
		case KindGroup:
			again = s.Prefix() + "." + KindGroup + "." + tok
		case KindUid:
			again = s.Prefix() + "." + KindUid + "." + tok
		default:
			t.Fatalf("Classify(%q): kind %q", subject, kind)
		}
		if again != subject {
			t.Errorf("Classify(%q) = %q %q, built again %q", subject, kind, tok, again)
		}
		// The token need not be canonical (docs/protocol.md, "Send the
		// canonical token": "~00" and "~0w" both name "\xd3"); a subject
		// with a non-canonical one is simply a subject nobody subscribes.
	})
}

func FuzzTokenName(f *testing.F) {
	f.Add("lobby")
	f.Add(NameToken("room 1.*"))
	f.Add("~")
	f.Add("~~")
	f.Fuzz(func(t *testing.T, tok string) {
		name, err := TokenName(tok)
		if err != nil {
			return
		}
		if back, err := TokenName(NameToken(name)); err != nil || back != name {
			t.Errorf("TokenName(%q) = %q; NameToken gives back %q %v", tok, name, back, err)
		}
	})
}
