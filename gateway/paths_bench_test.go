package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/natsserver"
)

// pathFixture is a started gateway with members connections in group "g",
// each a real loopback socket whose client side is drained.
type pathFixture struct {
	g     *Gateway
	conns []*conn
}

func newPathFixture(tb testing.TB, members int, opts ...Option) *pathFixture {
	tb.Helper()
	srv, err := natsserver.Start(natsserver.Config{Port: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	opts = append([]Option{Listen("ws://127.0.0.1:0"), SendBufferBytes(64 << 20),
		Logger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	g, err := New(nc, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = g.Shutdown(context.Background()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	f := &pathFixture{g: g}
	for i := range members {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		server, err := ln.Accept()
		if err != nil {
			tb.Fatal(err)
		}
		go func() { _, _ = io.Copy(io.Discard, client) }()
		tb.Cleanup(func() { client.Close(); server.Close() })
		c := newConn(g, transportWS, server, uint64(1000+i))
		g.hub.add(c)
		if _, err := g.hub.join(c, "g", "g"); err != nil {
			tb.Fatal(err)
		}
		f.conns = append(f.conns, c)
	}
	return f
}

// deliverOnce runs the fan-out path for one 64-byte group message: encode
// once, hand to every member, write with the writeBatch.
func (f *pathFixture) deliverOnce(msg *nats.Msg, members []*conn, frame *encodedFrame, b *writeBatch) []*conn {
	members = f.g.deliver(msg, members[:0], frame, b)
	b.flush()
	frame.reset(wire.Frame{})
	return members
}

// TestFanoutAllocatesNothingPerMember: the allocations of one group message
// do not grow with the number of members.
func TestFanoutAllocatesNothingPerMember(t *testing.T) {
	for _, n := range []int{10, 200} {
		f := newPathFixture(t, n)
		msg := &nats.Msg{Subject: f.g.subj.Group("g"), Data: make([]byte, 64)}
		var members []*conn
		var frame encodedFrame
		b := newWriteBatch()
		members = f.deliverOnce(msg, members, &frame, b) // warm the reused slices
		allocs := testing.AllocsPerRun(200, func() { members = f.deliverOnce(msg, members, &frame, b) })
		t.Logf("%d members: %.1f allocations per message", n, allocs)
		if allocs > 2 {
			t.Fatalf("%d members: %.1f allocations per message, want at most 2 (the encoded frame), none per member", n, allocs)
		}
	}
}

// BenchmarkFanoutPerMember measures one delivery (one member, one
// message); run with -benchmem.
func BenchmarkFanoutPerMember(b *testing.B) {
	const members = 100
	f := newPathFixture(b, members)
	msg := &nats.Msg{Subject: f.g.subj.Group("g"), Data: make([]byte, 64)}
	var list []*conn
	var frame encodedFrame
	bt := newWriteBatch()
	list = f.deliverOnce(msg, list, &frame, bt)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += members {
		list = f.deliverOnce(msg, list, &frame, bt)
	}
}

// discardEvents subscribes a stand-in worker to the event subjects: a raw
// NATS client in the workers queue group that reads and drops what it
// gets. Without a subscriber every event would bring a "no responders"
// reply back into the gateway; with a nats.go subscriber, nats.go's
// receive path would be measured too. It returns the bytes received.
func (f *pathFixture) discardEvents(tb testing.TB) <-chan struct{} {
	tb.Helper()
	raw, err := net.Dial("tcp", strings.TrimPrefix(f.g.nc.ConnectedUrl(), "nats://"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	br := bufio.NewReader(raw)
	if _, err := br.ReadString('\n'); err != nil { // INFO
		tb.Fatal(err)
	}
	sub := "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB " + f.g.subj.Event("*") + " " + wire.WorkerQueue + " 1\r\n" +
		"SUB " + f.g.subj.EventBatch(wire.EventMessage) + " " + wire.WorkerQueue + " 2\r\nPING\r\n"
	if _, err := raw.Write([]byte(sub)); err != nil {
		tb.Fatal(err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "PONG\r\n" {
		tb.Fatalf("stand-in worker: %q %v", line, err)
	}
	w := &discarder{got: make(chan struct{})}
	go func() { _, _ = io.Copy(w, br) }()
	return w.got
}

// discarder throws away what the stand-in worker receives, closing got at
// the first bytes.
type discarder struct {
	got  chan struct{}
	once sync.Once
}

func (w *discarder) Write(b []byte) (int, error) {
	w.once.Do(func() { close(w.got) })
	return len(b), nil
}

// pipeline drives client messages through one connection the way the
// gateway does: a masked 64-byte WebSocket text frame parsed by the
// netpoll reader, its event published to the workers, the worker's reply
// (one 64-byte frame) applied and written to the client, the pipeline
// advanced.
type pipeline struct {
	f     *pathFixture
	c     *conn
	frame []byte
	reply nats.Msg
	subj  []byte
	b     *writeBatch
}

func newPipeline(tb testing.TB, f *pathFixture) *pipeline {
	c := f.conns[0]
	c.wsr = c.newWSReader()
	var frame bytes.Buffer
	if err := ws.WriteFrame(&frame, ws.MaskFrameInPlace(ws.NewTextFrame(bytes.Repeat([]byte("m"), 64)))); err != nil {
		tb.Fatal(err)
	}
	return &pipeline{
		f: f, c: c, frame: frame.Bytes(), b: newWriteBatch(),
		reply: nats.Msg{Data: make([]byte, 64)}, // one text frame, as the Go worker sends it
	}
}

// message runs one client message through, reply included.
func (p *pipeline) message(tb testing.TB) {
	if !p.c.handleData(p.frame) {
		tb.Fatal("the connection ended")
	}
	p.c.evMu.Lock()
	seq := p.c.evSeq
	p.c.evMu.Unlock()
	// The reply subject, built without an allocation of the test's own.
	p.subj = p.f.g.subj.AppendGatewayReply(p.subj[:0], p.f.g.id, p.c.seqToken, seq)
	p.reply.Subject = bytesString(p.subj)
	p.f.g.onReply(&p.reply, p.b)
	p.b.flush()
}

// publishOnly runs one client message up to its publish, and drops it
// as if answered without frames.
func (p *pipeline) publishOnly(tb testing.TB) {
	if !p.c.handleData(p.frame) {
		tb.Fatal("the connection ended")
	}
	p.c.evMu.Lock()
	p.c.inflight.done = true
	p.c.evMu.Unlock()
	p.c.advance()
}

// barePublish is what nats.go and the embedded server cost for a message
// like an event's, built once: the floor of the event path.
func (p *pipeline) barePublish(tb testing.TB) func() {
	c, g := p.c, p.f.g
	m := &nats.Msg{
		Subject: g.subj.Event(wire.EventMessage),
		Reply:   g.subj.GatewayReply(g.id, c.seqToken, "1"),
		Header:  nats.Header{wire.HdrClient: {c.id}, wire.HdrRemote: {c.remote}},
		Data:    make([]byte, 64),
	}
	return func() {
		if err := g.nc.PublishMsg(m); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestMessagePathsAllocate: a worker's reply reaches the client's socket
// without an allocation, and a client message's whole round trip
// allocates nothing beyond what publishing the event costs in nats.go and
// the embedded server (measured here with a message built once).
func TestMessagePathsAllocate(t *testing.T) {
	f := newPathFixture(t, 1, MaxEventBatch(1)) // the lone event's path; batches: BenchmarkEventBatchPublish
	received := f.discardEvents(t)
	p := newPipeline(t, f)
	for range 100 { // warm the pools, the arena and the subject cache
		p.message(t)
	}
	if p.c.inflight != nil || p.c.queue.len() != 0 {
		t.Fatalf("pipeline not advanced: in flight %v, %d queued", p.c.inflight, p.c.queue.len())
	}
	select {
	case <-received:
	case <-time.After(5 * time.Second):
		t.Fatal("the stand-in worker received no event")
	}

	reply := func() { f.g.applyReply(p.c, &p.reply, p.b); p.b.flush() }
	replyAllocs := testing.AllocsPerRun(1000, reply)
	// The embedded server's allocation is amortised over its buffers, so
	// both averages sit near a whole number: compare them unrounded
	// (testing.AllocsPerRun rounds down, which made this flip).
	floor := meanAllocs(2000, p.barePublish(t))
	ours := meanAllocs(2000, func() { p.message(t) })
	t.Logf("reply → write: %.1f allocations; client message round trip: %.2f; a bare PublishMsg: %.2f", replyAllocs, ours, floor)
	if raceEnabled {
		return // the paths ran under the race detector; the counts mean nothing
	}
	if replyAllocs != 0 {
		t.Errorf("reply → write: %.1f allocations, want 0", replyAllocs)
	}
	if ours > floor+0.5 {
		t.Errorf("client message round trip: %.2f allocations, want no more than the %.2f of a bare PublishMsg", ours, floor)
	}
}

// meanAllocs is testing.AllocsPerRun without its rounding down.
func meanAllocs(runs int, f func()) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(runs)
}

// TestReadersAllocateNothing: a message read by the WebSocket and TCP
// framers lands in a pooled event's buffer.
func TestReadersAllocateNothing(t *testing.T) {
	var frame bytes.Buffer
	_ = ws.WriteFrame(&frame, ws.MaskFrameInPlace(ws.NewBinaryFrame(make([]byte, 100))))
	r := wsReader{limit: 1 << 20}
	pools := newEventPools()
	readWS := func() {
		n, op, ev, err := r.feed(frame.Bytes(), pools)
		if err != nil || op != ws.OpBinary || ev == nil || len(ev.data) != 100 || n != frame.Len() {
			t.Fatalf("feed = %d, %v, %v", n, op, err)
		}
		ev.release()
	}
	readWS()
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	if allocs := testing.AllocsPerRun(1000, readWS); allocs != 0 {
		t.Errorf("WebSocket frame: %.1f allocations, want 0", allocs)
	}

	msg := append(binary.BigEndian.AppendUint32(nil, 100), make([]byte, 100)...)
	src := bytes.NewReader(nil)
	br := bufio.NewReader(src)
	readTCP := func() {
		src.Reset(msg)
		br.Reset(src)
		ev := pools.event(wire.EventMessage)
		data, err := readTCPMessage(br, transportTCPFrame, 1<<20, ev.data, nil)
		if err != nil || len(data) != 100 {
			t.Fatalf("readTCPMessage = %d bytes, %v", len(data), err)
		}
		ev.data = data
		ev.release()
	}
	readTCP()
	if allocs := testing.AllocsPerRun(1000, readTCP); allocs != 0 {
		t.Errorf("tcp+frame message: %.1f allocations, want 0", allocs)
	}
}

// BenchmarkEventPublish measures a client message from its frame to the
// event's publish (then dropped as answered without frames).
//
// Not ours and not avoidable through nats.go's public API: PublishMsg
// encodes the headers with a new bytes.Buffer each time (Msg.headerBytes:
// the Buffer escapes, and Grow allocates its bytes: 2 allocations), and
// the embedded nats-server, in this process, allocates 1 per delivered
// message (processMsgResults' subject buffer escapes). So 3 allocs/op is
// the floor; TestMessagePathsAllocate checks we add none to it.
func BenchmarkEventPublish(b *testing.B) { benchPipeline(b, (*pipeline).publishOnly) }

// BenchmarkFrameToEvent measures a client message's round trip through
// the gateway: frame → pooled event → publish → the worker's reply
// (one frame) applied and written → advance. Its floor is the same as
// BenchmarkEventPublish's: the reply side allocates nothing.
func BenchmarkFrameToEvent(b *testing.B) { benchPipeline(b, (*pipeline).message) }

// benchPipeline measures step on one client whose events a stand-in worker
// discards, after one warm-up step.
func benchPipeline(b *testing.B, step func(*pipeline, testing.TB)) {
	f := newPathFixture(b, 1, MaxEventBatch(1)) // the lone event's path; batches: BenchmarkEventBatchPublish
	f.discardEvents(b)
	p := newPipeline(b, f)
	step(p, b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		step(p, b)
	}
}

// BenchmarkReplyToWrite measures a worker's reply with one frame → the
// client's write.
func BenchmarkReplyToWrite(b *testing.B) {
	f := newPathFixture(b, 1)
	c := f.conns[0]
	reply := &nats.Msg{Data: make([]byte, 64)} // one text frame, as the Go worker sends it
	bt := newWriteBatch()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		f.g.applyReply(c, reply, bt)
		bt.flush()
	}
}
