package wire

import (
	"slices"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestWorkerBeatRoundTrip(t *testing.T) {
	for _, b := range []WorkerBeat{
		{},
		{Op: OpHello},
		{Worker: "w1", Op: OpBye},
		{Worker: "w1", Features: []string{FeatureEventBatches, FeatureWSConnect, FeatureDirect}, Busy: true},
		{Worker: "w2", Features: []string{FeatureDirect}},
	} {
		m := b.Msg("sb.workers.hb", []byte("{}"))
		if m.Subject != "sb.workers.hb" || string(m.Data) != "{}" {
			t.Fatalf("%+v: message %q %q", b, m.Subject, m.Data)
		}
		got := ReadWorkerBeat(m)
		if got.Worker != b.Worker || got.Op != b.Op || got.Busy != b.Busy || !slices.Equal(got.Features, b.Features) {
			t.Fatalf("wrote %+v, read %+v", b, got)
		}
		for _, f := range []string{FeatureEventBatches, FeatureWSConnect, FeatureDirect} {
			if got.Has(f) != slices.Contains(b.Features, f) {
				t.Fatalf("%+v: Has(%q) = %v", b, f, got.Has(f))
			}
		}
	}
	// An older worker's list with an unknown feature still names the known ones.
	m := &nats.Msg{Header: nats.Header{HdrWorker: {"w"}, HdrFeatures: {"future," + FeatureDirect}, HdrBusy: {"yes"}}}
	if b := ReadWorkerBeat(m); !b.Has(FeatureDirect) || b.Has(FeatureWSConnect) || b.Busy {
		t.Fatalf("read %+v", b)
	}
}

func TestGatewayBeatRoundTrip(t *testing.T) {
	for _, b := range []GatewayBeat{{}, {Gateway: "g1"}, {Gateway: "g1", Op: OpHello}, {Gateway: "g2", Op: OpBye}} {
		m := b.Msg("sb.hb", []byte("x"))
		if got := ReadGatewayBeat(m); got != b || string(m.Data) != "x" {
			t.Fatalf("wrote %+v, read %+v", b, got)
		}
	}
}

// FuzzReadWorkerBeat: any headers read without panic, and what was read
// written back reads the same.
func FuzzReadWorkerBeat(f *testing.F) {
	f.Add("w1", "", "batches,wsconnect", "1")
	f.Add("", "hello", "", "")
	f.Add("w", "bye", ",,", "0")
	f.Fuzz(func(t *testing.T, worker, op, features, busy string) {
		m := &nats.Msg{Header: nats.Header{HdrWorker: {worker}, HdrOp: {op}, HdrFeatures: {features}, HdrBusy: {busy}}}
		b := ReadWorkerBeat(m)
		if b.Busy != (busy == "1") || b.Worker != worker || b.Op != op {
			t.Fatalf("read %+v from %q %q %q", b, worker, op, busy)
		}
		again := ReadWorkerBeat(b.Msg("s", nil))
		if again.Worker != b.Worker || again.Op != b.Op || again.Busy != b.Busy || !slices.Equal(again.Features, b.Features) {
			t.Fatalf("read %+v, written back and read %+v", b, again)
		}
	})
}

// FuzzReadGatewayBeat: any headers read without panic and round-trip.
func FuzzReadGatewayBeat(f *testing.F) {
	f.Add("g1", "hello")
	f.Fuzz(func(t *testing.T, gw, op string) {
		b := ReadGatewayBeat(&nats.Msg{Header: nats.Header{HdrGateway: {gw}, HdrOp: {op}}})
		if b.Gateway != gw || b.Op != op || ReadGatewayBeat(b.Msg("s", nil)) != b {
			t.Fatalf("read %+v from %q %q", b, gw, op)
		}
	})
}
