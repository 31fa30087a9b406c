package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Fuzz targets for the readers that had only table tests: whatever bytes
// arrive, a reader returns an error or values that agree with its input,
// never panics, and never reads outside the body it was given.

// FuzzEachFrame: the frames a spec yields fit the body exactly, in order;
// a spec AppendFrameSpec wrote reads back as the frames it described.
func FuzzEachFrame(f *testing.F) {
	f.Add("", []byte("hello"))
	f.Add("5,b2", []byte("helloab"))
	f.Add("3,", []byte("abc"))
	f.Add("b-1", []byte("x"))
	f.Add("99999999999999999999", []byte{})
	f.Fuzz(func(t *testing.T, spec string, body []byte) {
		var got []Frame
		err := EachFrame(spec, body, func(fr Frame) { got = append(got, fr) })
		if err != nil {
			return
		}
		var joined []byte
		var respec []byte
		for _, fr := range got {
			joined = append(joined, fr.Data...)
			respec = AppendFrameSpec(respec, fr)
		}
		if !bytes.Equal(joined, body) {
			t.Fatalf("spec %q: frames %q do not make up body %q", spec, joined, body)
		}
		var again []Frame
		if err := EachFrame(string(respec), joined, func(fr Frame) { again = append(again, fr) }); err != nil {
			t.Fatalf("spec %q written back as %q: %v", spec, respec, err)
		}
		if len(again) != len(got) && !(spec == "" && len(got) == 1) {
			t.Fatalf("spec %q: %d frames, written back %q: %d", spec, len(got), respec, len(again))
		}
	})
}

// FuzzSplitEventBatch: a batch is either refused with ErrBadBatch or its
// events' bodies make up the batch's body, each event's reply is a reply
// subject of the gateway the batch names, and its Ref parses back to the
// client of its ClientID.
func FuzzSplitEventBatch(f *testing.F) {
	f.Add("sb.gw.abcdefghij.b.1.2.3.4", "2,3", "r1\x00r2", "", []byte("hiabc"))
	f.Add("sb.gw.abcdefghij.b.1.2", "b1", "r", "{}", []byte{7})
	f.Add("sb.gw.x.b.", "", "", "", []byte{})
	subj, err := NewSubjects("sb")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, reply, spec, remotes, sessions string, body []byte) {
		h := nats.Header{HdrFrames: {spec}, HdrRemote: strings.Split(remotes, "\x00")}
		if sessions != "" {
			h[HdrSession] = strings.Split(sessions, "\x00")
		}
		m := &nats.Msg{Subject: subj.EventBatch(EventMessage), Reply: reply, Header: h, Data: body}
		var joined []byte
		err := subj.SplitEventBatch(m, func(e BatchEvent) {
			joined = append(joined, e.Data...)
			seq, evSeq, ok := ParseGatewayReply(e.Reply)
			if !ok || subj.GatewayReply(e.Gateway, strings.Split(e.Ref, ".")[0], strings.Split(e.Ref, ".")[1]) != e.Reply {
				t.Fatalf("event reply %q, ref %q", e.Reply, e.Ref)
			}
			if gw, cseq, err := ParseClientID(e.ClientID); err == nil && (gw != e.Gateway || cseq != seq) {
				t.Fatalf("client id %q names %s/%d, reply %q names %s/%d", e.ClientID, gw, cseq, e.Reply, e.Gateway, seq)
			}
			_ = evSeq
		})
		if err != nil {
			if !errors.Is(err, ErrBadBatch) {
				t.Fatalf("error %v is not ErrBadBatch", err)
			}
			return
		}
		if !bytes.Equal(joined, body) {
			t.Fatalf("events' bodies %q do not make up the body %q", joined, body)
		}
	})
}

// FuzzReplyBatchScanner: a reply batch is either refused with
// ErrBadReplyBatch or its replies' bodies make up the batch's body, and
// each reply's frame list reads over its own body.
func FuzzReplyBatchScanner(f *testing.F) {
	f.Add("1f.3.2,2.1.0,a.z.1", "4,b2,0", "", "", []byte("echo\x01\x02"))
	f.Add("1.1.1", "", "{}", "", []byte("x"))
	f.Add("1.1.0", "", "", "{\"a\":1}", []byte{})
	f.Add("1.1.-1", "3", "", "", []byte("abc"))
	f.Fuzz(func(t *testing.T, refs, spec, sets, updates string, body []byte) {
		h := nats.Header{HdrReplies: {refs}}
		if spec != "" {
			h[HdrFrames] = []string{spec}
		}
		if sets != "" {
			h[HdrSessionSet] = strings.Split(sets, "\x00")
		}
		if updates != "" {
			h[HdrSessionUpd] = strings.Split(updates, "\x00")
		}
		sc := NewReplyBatchScanner(&nats.Msg{Header: h, Data: body})
		var joined []byte
		for sc.Scan() {
			r := sc.Reply()
			joined = append(joined, r.Body...)
			if err := EachFrame(r.Frames, r.Body, func(Frame) {}); err != nil && r.Frames != "" {
				t.Fatalf("reply frames %q over %q: %v", r.Frames, r.Body, err)
			}
		}
		if err := sc.Err(); err != nil {
			if !errors.Is(err, ErrBadReplyBatch) {
				t.Fatalf("error %v is not ErrBadReplyBatch", err)
			}
			return
		}
		if !bytes.Equal(joined, body) {
			t.Fatalf("replies' bodies %q do not make up the body %q", joined, body)
		}
	})
}

// FuzzParseClientID: an id parses back to what ClientID builds from it.
func FuzzParseClientID(f *testing.F) {
	f.Add("abcdefghij-1f")
	f.Add("abcdefghij-")
	f.Add("ABCDEFGHIJ-1")
	f.Add("abcdefghij-zzzzzzzzzzzzzzzzzzzzzz")
	f.Fuzz(func(t *testing.T, id string) {
		gw, seq, err := ParseClientID(id)
		if err != nil {
			if !errors.Is(err, ErrInvalidClientID) {
				t.Fatalf("error %v is not ErrInvalidClientID", err)
			}
			return
		}
		if !ValidGatewayID(gw) {
			t.Fatalf("%q: gateway %q is not valid", id, gw)
		}
		again, seq2, err := ParseClientID(ClientID(gw, seq))
		if err != nil || again != gw || seq2 != seq {
			t.Fatalf("%q: built back as %q: %s %d %v", id, ClientID(gw, seq), again, seq2, err)
		}
	})
}

// FuzzParseDeadline: a deadline is positive, and AppendDeadline writes
// one that reads back to the same millisecond.
func FuzzParseDeadline(f *testing.F) {
	f.Add("1764547200000")
	f.Add("")
	f.Add("-5")
	f.Add("0x10")
	f.Add("99999999999999999999")
	f.Fuzz(func(t *testing.T, v string) {
		ms, ok := ParseDeadline(v)
		if !ok {
			return
		}
		if ms <= 0 {
			t.Fatalf("%q: deadline %d accepted", v, ms)
		}
		back, ok := ParseDeadline(string(AppendDeadline(nil, time.UnixMilli(ms))))
		if !ok || back != ms {
			t.Fatalf("%q: %d written back reads %d, %v", v, ms, back, ok)
		}
	})
}

// FuzzParsePart: a part number is within 1 ≤ i ≤ n ≤ MaxAnswerParts, and
// PartValue writes it back the same.
func FuzzParsePart(f *testing.F) {
	f.Add("1/1")
	f.Add("2/1")
	f.Add("0/3")
	f.Add("1/")
	f.Add("1/1048577")
	f.Fuzz(func(t *testing.T, v string) {
		i, n, err := ParsePart(v)
		if err != nil {
			return
		}
		if i < 1 || n < i || n > MaxAnswerParts {
			t.Fatalf("%q: part %d/%d accepted", v, i, n)
		}
		if i2, n2, err := ParsePart(PartValue(i, n)); err != nil || i2 != i || n2 != n {
			t.Fatalf("%q: written back as %q reads %d/%d, %v", v, PartValue(i, n), i2, n2, err)
		}
	})
}

// FuzzSessionPatch: for two JSON objects, the patch DiffSessionJSON
// computes turns the first into the second under MergeSessionJSON.
func FuzzSessionPatch(f *testing.F) {
	f.Add(`{"a":1,"n":{"x":1,"y":2}}`, `{"a":2,"n":{"x":1},"c":[1]}`)
	f.Add(`{}`, `{"a":null}`)
	f.Add(`{"a":{"b":{}}}`, `{"a":{"b":{"c":1}}}`)
	f.Fuzz(func(t *testing.T, before, after string) {
		var b, a map[string]any
		if json.Unmarshal([]byte(before), &b) != nil || json.Unmarshal([]byte(after), &a) != nil || b == nil || a == nil {
			return
		}
		if hasNull(a) || hasEmptyObject(a) {
			return // a null value or an empty object cannot be told from "absent" by a merge
		}
		patch, changed, err := DiffSessionJSON([]byte(before), []byte(after))
		if err != nil {
			t.Fatalf("diff %s → %s: %v", before, after, err)
		}
		merged := []byte(before)
		if changed {
			if merged, err = MergeSessionJSON([]byte(before), patch); err != nil {
				t.Fatalf("merge %s with %s: %v", before, patch, err)
			}
		}
		var got map[string]any
		if len(merged) > 0 {
			if err := json.Unmarshal(merged, &got); err != nil {
				t.Fatalf("merged %q: %v", merged, err)
			}
		}
		want, _ := json.Marshal(a)
		have, _ := json.Marshal(got)
		if len(a) == 0 && len(got) == 0 {
			return
		}
		if !bytes.Equal(want, have) {
			t.Fatalf("%s + patch %s = %s, want %s", before, patch, have, want)
		}
	})
}

func hasNull(m map[string]any) bool {
	for _, v := range m {
		if v == nil {
			return true
		}
		if o, ok := v.(map[string]any); ok && hasNull(o) {
			return true
		}
	}
	return false
}

func hasEmptyObject(m map[string]any) bool {
	for _, v := range m {
		if o, ok := v.(map[string]any); ok && (len(o) == 0 || hasEmptyObject(o)) {
			return true
		}
	}
	return false
}
