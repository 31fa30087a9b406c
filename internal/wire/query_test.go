package wire

import (
	"slices"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestQueryRequestRoundTrip(t *testing.T) {
	for _, q := range []QueryRequest{
		{Kind: QueryStatus},
		{Kind: QueryList, GroupToken: NameToken("room 1"), Fields: []string{FieldUid, FieldGroups, FieldSession}},
		{Kind: QueryCount, UidToken: NameToken("u/7")},
		{Kind: QueryUngroup, GroupToken: NameToken("g")},
	} {
		got := ReadQueryRequest(&nats.Msg{Header: q.Header()})
		if got.Kind != q.Kind || got.GroupToken != q.GroupToken || got.UidToken != q.UidToken || !slices.Equal(got.Fields, q.Fields) {
			t.Fatalf("wrote %+v, read %+v", q, got)
		}
		for _, f := range []string{FieldUid, FieldGroups, FieldSession} {
			if got.Wants(f) != slices.Contains(q.Fields, f) {
				t.Fatalf("%+v: Wants(%q) = %v", q, f, got.Wants(f))
			}
		}
	}
}

func TestQueryAnswerRoundTrip(t *testing.T) {
	a := QueryAnswer{Gateway: "g1", Gateways: []string{"g1", "g2"}}
	hdr := a.Header()
	got := ReadQueryAnswer(&nats.Msg{Header: hdr})
	if got.Gateway != "g1" || !slices.Equal(got.Gateways, a.Gateways) || got.Part != "" || ReplyError(&nats.Msg{Header: hdr}) != nil {
		t.Fatalf("wrote %+v, read %+v", a, got)
	}
	if i, n, err := got.Parts(); i != 1 || n != 1 || err != nil {
		t.Fatalf("whole answer: part %d of %d, %v", i, n, err)
	}
	part := WithPart(hdr, 2, 3)
	if hdr.Get(HdrPart) != "" {
		t.Fatal("WithPart changed the header it was given")
	}
	if i, n, err := ReadQueryAnswer(&nats.Msg{Header: part}).Parts(); i != 2 || n != 3 || err != nil {
		t.Fatalf("part 2 of 3 read as %d of %d, %v", i, n, err)
	}
	e := &nats.Msg{Header: QueryErrorHeader("g9", CodeInternal, "boom")}
	if ReadQueryAnswer(e).Gateway != "g9" || ReplyError(e) == nil {
		t.Fatalf("error answer %v", e.Header)
	}
}

// FuzzReadQueryRequest: any headers read without panic; what was read
// written back reads the same.
func FuzzReadQueryRequest(f *testing.F) {
	f.Add("list", "Zw", "", "uid,groups")
	f.Add("", "", "", ",")
	f.Fuzz(func(t *testing.T, kind, group, uid, fields string) {
		q := ReadQueryRequest(&nats.Msg{Header: nats.Header{HdrQuery: {kind}, HdrGroup: {group}, HdrUid: {uid}, HdrFields: {fields}}})
		if q.Kind != kind || q.GroupToken != group || q.UidToken != uid {
			t.Fatalf("read %+v", q)
		}
		again := ReadQueryRequest(&nats.Msg{Header: q.Header()})
		if again.Kind != q.Kind || again.GroupToken != q.GroupToken || again.UidToken != q.UidToken || !slices.Equal(again.Fields, q.Fields) {
			t.Fatalf("read %+v, written back and read %+v", q, again)
		}
	})
}

// FuzzReadQueryAnswer: any headers read without panic; a part that parses
// is within 1..n.
func FuzzReadQueryAnswer(f *testing.F) {
	f.Add("g1", "g1,g2", "2/3")
	f.Add("", "", "0/0")
	f.Fuzz(func(t *testing.T, gw, gws, part string) {
		a := ReadQueryAnswer(&nats.Msg{Header: nats.Header{HdrGateway: {gw}, HdrGateways: {gws}, HdrPart: {part}}})
		if a.Gateway != gw || a.Part != part {
			t.Fatalf("read %+v", a)
		}
		if i, n, err := a.Parts(); err == nil && (i < 1 || i > n) {
			t.Fatalf("part %q read as %d of %d", part, i, n)
		}
	})
}
