package worker_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/natsserver"
	"github.com/switchboard-go/switchboard/worker"
)

// echoEvents answers every message to its sender, like the bench worker.
type echoEvents struct{}

func (echoEvents) OnMessage(c *worker.Context, m worker.Message) error {
	return c.SendToCurrentClient(m.Data)
}

// BenchmarkWorkerEcho measures one message event through an embedded NATS
// server (in-process connections) to a worker and its reply back, with 200
// events in flight as at 200 echoing clients. It stands in for the
// gateway: the events carry the headers a gateway sends.
func BenchmarkWorkerEcho(b *testing.B) {
	const inflight = 200
	gnc := startWorker(b, echoEvents{})

	subj, _ := wire.NewSubjects("sb")
	replies := make(chan *nats.Msg, inflight)
	sub, err := gnc.ChanSubscribe(subj.GatewayReplies("gwbench0001"), replies)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := gnc.Flush(); err != nil {
		b.Fatal(err)
	}
	publish := func(i int) {
		m := &nats.Msg{
			Subject: subj.Event(wire.EventMessage),
			Reply:   subj.GatewayReply("gwbench0001", strconv.Itoa(i%inflight), strconv.Itoa(i)),
			Header: nats.Header{
				wire.HdrClient: {"gwbench0001-" + strconv.Itoa(i%inflight)},
				wire.HdrRemote: {"127.0.0.1:40000"},
			},
			Data: make([]byte, 64),
		}
		if err := gnc.PublishMsg(m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	sent := 0
	for ; sent < min(inflight, b.N); sent++ {
		publish(sent)
	}
	for range b.N {
		r := <-replies
		if len(r.Header) != 0 || len(r.Data) != 64 { // one text frame needs no Sb-Frames
			b.Fatalf("reply headers %v", r.Header)
		}
		if sent < b.N {
			publish(sent)
			sent++
		}
	}
}

// startWorker starts an embedded NATS server and a worker running events
// with opts, and returns a second in-process connection that stands in for
// a gateway.
func startWorker(tb testing.TB, events any, opts ...worker.Option) *nats.Conn {
	tb.Helper()
	srv, err := natsserver.Start(natsserver.Config{Port: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Shutdown)
	connect := func() *nats.Conn {
		nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(nc.Close)
		return nc
	}
	wnc, gnc := connect(), connect()
	opts = append([]worker.Option{worker.Logger(slog.New(slog.DiscardHandler))}, opts...)
	w, err := worker.New(wnc, events, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = w.Stop(context.Background()) })
	return gnc
}

// BenchmarkWorkerEchoBatched is BenchmarkWorkerEcho as a busy gateway
// sends it: events in batches of 32, six batches in flight, answered in
// reply batches. An op is one event; the stand-in gateway's allocations
// are included.
func BenchmarkWorkerEchoBatched(b *testing.B) {
	const batch, inflight = 32, 6
	gnc := startWorker(b, echoEvents{})
	subj, _ := wire.NewSubjects("sb")
	gw := "gwbench0001"
	answered := make(chan int, 4096)
	sub, err := gnc.Subscribe("sb.gw."+gw+".>", func(m *nats.Msg) {
		if m.Subject == subj.GatewayReplyBatch(gw) {
			answered <- strings.Count(m.Header.Get(wire.HdrReplies), ",") + 1
			return
		}
		answered <- 1
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := gnc.Flush(); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, batch*64)
	var spec []byte
	remotes := make([]string, batch)
	for i := range batch {
		spec = wire.AppendFrameSpec(spec, wire.Frame{Data: body[:64]})
		remotes[i] = "127.0.0.1:40000"
	}
	sent := 0
	publish := func() {
		n := min(batch, b.N-sent)
		reply := subj.AppendGatewayBatchReply(nil, gw)
		for i := range n {
			reply = wire.AppendBatchEntry(reply, strconv.Itoa((sent+i)%(batch*inflight)), uint64(sent+i))
		}
		m := &nats.Msg{
			Subject: subj.EventBatch(wire.EventMessage),
			Reply:   string(reply),
			Header:  nats.Header{wire.HdrFrames: {string(spec[:len(spec)-3*(batch-n)])}, wire.HdrRemote: remotes[:n]},
			Data:    body[:n*64],
		}
		if err := gnc.PublishMsg(m); err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	b.ReportAllocs()
	b.ResetTimer()
	for sent < b.N && sent < batch*inflight {
		publish()
	}
	for done := 0; done < b.N; {
		done += <-answered
		for sent < b.N && sent-done < batch*inflight {
			publish()
		}
	}
}
