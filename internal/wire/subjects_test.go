package wire

import (
	"strings"
	"testing"
)

func TestNameTokenRoundTrip(t *testing.T) {
	for _, name := range []string{"lobby", "room-1_A", "a.b", "*", ">", "with space", "日本語", "~tilde", strings.Repeat("x", 129)} {
		tok := NameToken(name)
		if strings.ContainsAny(tok, ". *>\t") || tok == "" {
			t.Errorf("NameToken(%q) = %q: not a single subject token", name, tok)
		}
		back, err := TokenName(tok)
		if err != nil || back != name {
			t.Errorf("TokenName(NameToken(%q)) = %q, %v", name, back, err)
		}
	}
	if NameToken("plain") != "plain" {
		t.Error("plain names must stay readable")
	}
	if NameToken("~x") == "~x" {
		t.Error("a name starting with ~ must be encoded, or it would collide")
	}
	if _, err := TokenName("a.b"); err == nil {
		t.Error("TokenName accepted a token with a dot")
	}
}

func TestSubjects(t *testing.T) {
	s, err := NewSubjects("app.prod")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Group("a b"); got != "app.prod.grp."+NameToken("a b") {
		t.Errorf("Group = %q", got)
	}
	for subject, want := range map[string][3]string{
		s.Group("x"):   {KindGroup, "x", "true"},
		s.Uid("u.1"):   {KindUid, NameToken("u.1"), "true"},
		s.All():        {KindAll, "", "true"},
		"other.grp.x":  {"", "", "false"},
		s.Query():      {"", "", "false"},
		"app.prod.grp": {"", "", "false"},
	} {
		kind, tok, ok := s.Classify(subject)
		if kind != want[0] || tok != want[1] || (ok != (want[2] == "true")) {
			t.Errorf("Classify(%q) = %q %q %v, want %v", subject, kind, tok, ok, want)
		}
	}
	if got := string(s.AppendEvent([]byte("x"), EventMessage)); got != "x"+s.Event(EventMessage) {
		t.Errorf("AppendEvent = %q", got)
	}
	if got := string(s.AppendGatewayReply(nil, "gw", "k3", 12345)); got != s.GatewayReply("gw", "k3", "9ix") {
		t.Errorf("AppendGatewayReply = %q", got)
	}
	for _, bad := range []string{"a..b", "a.*", "a b", ">"} {
		if _, err := NewSubjects(bad); err == nil {
			t.Errorf("NewSubjects(%q) accepted", bad)
		}
	}
}

func TestClientIDs(t *testing.T) {
	gw := NewGatewayID()
	if len(gw) != GatewayIDLen || gw == NewGatewayID() {
		t.Fatalf("gateway ids: %q", gw)
	}
	id := ClientID(gw, 123456)
	g, seq, err := ParseClientID(id)
	if err != nil || g != gw || seq != 123456 {
		t.Fatalf("ParseClientID(%q) = %q %d %v", id, g, seq, err)
	}
	if string(AppendClientID(nil, gw, 123456)) != id {
		t.Fatal("AppendClientID differs from ClientID")
	}
	for _, bad := range []string{"", "abc", "abcdefghij-", "ABCDEFGHIJ-1", "abcdefghij-!", "abcdefgh1j-1"} {
		if _, _, err := ParseClientID(bad); err == nil {
			t.Errorf("ParseClientID(%q) accepted", bad)
		}
	}
}

func TestFrames(t *testing.T) {
	var spec []byte
	spec = AppendFrameSpec(spec, Frame{Data: []byte("hello")})
	spec = AppendFrameSpec(spec, Frame{Data: []byte{1, 2}, Binary: true})
	spec = AppendFrameSpec(spec, Frame{})
	if string(spec) != "5,b2,0" {
		t.Fatalf("spec = %q", spec)
	}
	var got []Frame
	if err := EachFrame(string(spec), []byte("hello\x01\x02"), func(f Frame) { got = append(got, f) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got[0].Data) != "hello" || !got[1].Binary || len(got[2].Data) != 0 {
		t.Fatalf("frames = %+v", got)
	}
	for _, bad := range []struct{ spec, body string }{{"9", "short"}, {"2", "long"}, {"x", "a"}, {"-1", ""}, {"0", "a"}, {"1,", "ab"}} {
		if err := EachFrame(bad.spec, []byte(bad.body), func(Frame) {}); err == nil {
			t.Errorf("EachFrame(%q, %q) accepted", bad.spec, bad.body)
		}
	}
	if err := EachFrame("", nil, func(Frame) { t.Error("a frame from an empty list and body") }); err != nil {
		t.Errorf("an empty list and body: %v", err)
	}
	got = got[:0]
	if err := EachFrame("", []byte("hi"), func(f Frame) { got = append(got, f) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got[0].Data) != "hi" || got[0].Binary {
		t.Fatalf("a body without a list gave %+v, want one text frame", got)
	}
	for _, tc := range []struct {
		spec, body string
		want       bool
	}{{"5", "hello", false}, {"0", "", true}, {"b5", "hello", true}, {"2,3", "hello", true}, {"", "", false}} {
		if NeedsFrameList([]byte(tc.spec), []byte(tc.body)) != tc.want {
			t.Errorf("NeedsFrameList(%q, %q) = %v", tc.spec, tc.body, !tc.want)
		}
		if HasFrames(tc.spec, []byte(tc.body)) != (tc.spec != "") {
			t.Errorf("HasFrames(%q, %q) = %v", tc.spec, tc.body, tc.spec == "")
		}
	}
	if !HasFrames("", []byte("hi")) {
		t.Error("a body without a list has no frame")
	}
}

// TestFrameScannerAllocatesNothing: walking a reply's frames is on the
// gateway's reply → write path.
func TestFrameScannerAllocatesNothing(t *testing.T) {
	body := []byte("hello\x01\x02")
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		s := NewFrameScanner("5,b2,0", body)
		for s.Scan() {
			n += len(s.Frame().Data)
		}
		if s.Err() != nil {
			t.Fatal(s.Err())
		}
	})
	if allocs != 0 || n == 0 {
		t.Fatalf("%.1f allocations per scan", allocs)
	}
}

func TestMergeSession(t *testing.T) {
	out, err := MergeSessionJSON([]byte(`{"a":1,"b":2,"n":{"x":1,"y":2}}`), []byte(`{"b":null,"c":"x","n":{"y":null,"z":3}}`))
	if err != nil || string(out) != `{"a":1,"c":"x","n":{"x":1,"z":3}}` {
		t.Fatalf("merge = %s, %v", out, err)
	}
	if _, err := MergeSessionJSON(nil, []byte(`[1]`)); err == nil {
		t.Fatal("a non-object patch was accepted")
	}
	if err := ValidName(""); err == nil {
		t.Fatal("empty name accepted")
	}
	if err := ValidName("\xff"); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
}

func TestWorkerDirectSubjects(t *testing.T) {
	s, err := NewSubjects("app")
	if err != nil {
		t.Fatal(err)
	}
	id := NewGatewayID()
	if !ValidWorkerID(id) {
		t.Fatalf("a generated id %q is not a valid worker id", id)
	}
	if got, want := s.WorkerDirect(id, EventMessage), "app.wd."+id+".message"; got != want {
		t.Errorf("WorkerDirect = %q, want %q", got, want)
	}
	if got := string(s.AppendWorkerDirect([]byte("x"), id, EventClose)); got != "x"+s.WorkerDirect(id, EventClose) {
		t.Errorf("AppendWorkerDirect = %q", got)
	}
	if got, want := s.WorkerDirectAll(id), "app.wd."+id+".*"; got != want {
		t.Errorf("WorkerDirectAll = %q, want %q", got, want)
	}
	for _, bad := range []string{"", "a.b", "*", ">", "a b", "é", strings.Repeat("x", 65)} {
		if ValidWorkerID(bad) {
			t.Errorf("ValidWorkerID(%q) = true", bad)
		}
	}
}
