package wire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestSplitAnswerFitsAndJoins splits bodies of every size around the room
// a message has and checks that each part fits max_payload with its
// headers and that the parts join back into the body, in any arrival
// order.
func TestSplitAnswerFitsAndJoins(t *testing.T) {
	hdr := nats.Header{HdrStatus: {StatusOK}, HdrGateway: {"k3x7q2mz4a"}, HdrGateways: {"k3x7q2mz4a,q2m7k3xz4a"}}
	const max = 512
	for size := 0; size <= 3*max; size++ {
		data := bytes.Repeat([]byte("abcdefghij"), size/10+1)[:size]
		parts, err := SplitAnswer(max, hdr, data)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if len(parts) == 1 {
			if HeaderSize(hdr)+len(parts[0]) > max {
				t.Fatalf("size %d: a whole answer of %d bytes does not fit", size, len(parts[0]))
			}
			continue
		}
		a := &Assembly{}
		var whole *nats.Msg
		// Deliver the parts last to first.
		for i := len(parts); i >= 1; i-- {
			h := nats.Header{}
			for k, v := range hdr {
				h[k] = v
			}
			h.Set(HdrPart, PartValue(i, len(parts)))
			if got := HeaderSize(h) + len(parts[i-1]); got > max {
				t.Fatalf("size %d: part %d takes %d bytes, max %d", size, i, got, max)
			}
			pi, pn, err := ParsePart(h.Get(HdrPart))
			if err != nil || pi != i || pn != len(parts) {
				t.Fatalf("ParsePart(%q) = %d, %d, %v", h.Get(HdrPart), pi, pn, err)
			}
			m, err := a.Add(&nats.Msg{Header: h, Data: parts[i-1]}, pi, pn)
			if err != nil {
				t.Fatal(err)
			}
			if i > 1 && m != nil {
				t.Fatalf("size %d: whole before the last part", size)
			}
			whole = m
		}
		if whole == nil || !bytes.Equal(whole.Data, data) {
			t.Fatalf("size %d: parts do not join back", size)
		}
	}
}

func TestSplitAnswerRefusesWhatCannotFit(t *testing.T) {
	hdr := nats.Header{HdrStatus: {StatusOK}}
	if _, err := SplitAnswer(80, hdr, make([]byte, 1000)); !errors.Is(err, ErrAnswerTooLarge) {
		t.Fatalf("err = %v, want ErrAnswerTooLarge", err)
	}
}

func TestParsePartRefusesMalformed(t *testing.T) {
	for _, v := range []string{"0/1", "2/1", "1", "a/b", "1/2/3", "-1/2", "1/2000000", "/"} {
		if _, _, err := ParsePart(v); err == nil {
			t.Errorf("ParsePart(%q): want an error", v)
		}
	}
}

// TestAssemblyRefusesChangingCount: parts of one answer must agree on n.
func TestAssemblyRefusesChangingCount(t *testing.T) {
	a := &Assembly{}
	if _, err := a.Add(&nats.Msg{Data: []byte("a")}, 1, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Add(&nats.Msg{Data: []byte("b")}, 2, 4); err == nil {
		t.Fatal("want an error for a part announcing another count")
	}
}

// TestMergeSessionCopiesNestedMaps: a merged session never shares a map
// with the patch, so changing the patch later does not change it.
func TestMergeSessionCopiesNestedMaps(t *testing.T) {
	dst := map[string]any{"a": 1}
	inner := map[string]any{"x": 1, "gone": nil}
	MergeSession(dst, map[string]any{"p": inner, "s": namedMap{"y": 2}})
	inner["x"] = 99
	p := dst["p"].(map[string]any)
	if p["x"] != 1 || len(p) != 1 {
		t.Fatalf("merged nested map = %v, want {x:1}", p)
	}
	if s := dst["s"].(map[string]any); s["y"] != 2 {
		t.Fatalf("a Session value did not merge as an object: %v", dst["s"])
	}
}

// namedMap stands for bus.Session: a named map type inside a patch.
type namedMap map[string]any
