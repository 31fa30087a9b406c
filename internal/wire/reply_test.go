package wire

import (
	"net/http"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestReplyRead(t *testing.T) {
	m := &nats.Msg{Header: nats.Header{
		HdrFrames: {"2,b3"}, HdrClose: {"1"}, HdrSessionSet: {`{"a":1}`}, HdrSessionUpd: {`{"b":2}`},
	}, Data: []byte("hiabc")}
	r := ReadReply(m)
	if r.Frames != "2,b3" || !r.Closes() || r.SessionSet != `{"a":1}` || r.SessionUpdate != `{"b":2}` {
		t.Fatalf("read %+v", r)
	}
	if _, rejected := r.Rejected(); rejected {
		t.Fatal("an ok reply read as a rejection")
	}
	if (Reply{Close: "0"}).Closes() {
		t.Fatal(`Sb-Close: 0 closes`)
	}
	if n := testing.AllocsPerRun(100, func() { r = ReadReply(m) }); n != 0 {
		t.Fatalf("ReadReply allocates %v times", n)
	}
}

func TestRejectRoundTrip(t *testing.T) {
	for _, c := range []struct{ status, want int }{{401, 401}, {599, 599}, {200, http.StatusForbidden}, {0, http.StatusForbidden}, {600, http.StatusForbidden}} {
		r := ReadReply(&nats.Msg{Header: RejectHeader(c.status, "no")})
		code, rejected := r.Rejected()
		if !rejected || code != c.want || r.Reason != "no" {
			t.Fatalf("RejectHeader(%d) read as %d %v %+v", c.status, code, rejected, r)
		}
	}
}

// FuzzReadReply: any headers read without panic into the same strings; a
// rejection's status is always an HTTP error status.
func FuzzReadReply(f *testing.F) {
	f.Add("reject", "404", "1", "2,b1")
	f.Add("ok", "x", "", "")
	f.Fuzz(func(t *testing.T, status, httpStatus, closeV, frames string) {
		r := ReadReply(&nats.Msg{Header: nats.Header{HdrStatus: {status}, HdrHTTPStatus: {httpStatus}, HdrClose: {closeV}, HdrFrames: {frames}}})
		if r.Status != status || r.HTTPStatus != httpStatus || r.Frames != frames || r.Closes() != (closeV == "1") {
			t.Fatalf("read %+v", r)
		}
		if code, rejected := r.Rejected(); rejected != (status == StatusReject) || rejected && (code < 400 || code > 599) {
			t.Fatalf("%+v: Rejected() = %d, %v", r, code, rejected)
		}
	})
}

// TestSetReplyHeaderAlone: a reply sent alone, written by SetReplyHeader,
// reads back with ReadReply.
func TestSetReplyHeaderAlone(t *testing.T) {
	h := nats.Header{}
	SetReplyHeader(h, nil, []byte("2,b1"), []string{`{"a":1}`}, nil)
	r := ReadReply(&nats.Msg{Header: h})
	if r.Frames != "2,b1" || r.SessionSet != `{"a":1}` || r.SessionUpdate != "" || h.Get(HdrReplies) != "" {
		t.Fatalf("read %+v from %v", r, h)
	}
}
