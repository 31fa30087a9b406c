package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
)

// pathFixture is a started gateway with members connections in group "g",
// each a real loopback socket whose client side is drained.
type pathFixture struct {
	g     *Gateway
	conns []*conn
}

func newPathFixture(tb testing.TB, members int) *pathFixture {
	tb.Helper()
	srv, err := bus.StartServer(bus.ServerConfig{Port: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	g, err := New(nc, Listen("ws://127.0.0.1:0"), SendBufferBytes(64<<20),
		Logger(slog.New(slog.NewTextHandler(io.Discard, nil))))
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
// once, hand to every member, write with the batch.
func (f *pathFixture) deliverOnce(msg *nats.Msg, members []*conn, frame *encodedFrame, b *batch) []*conn {
	members = f.g.deliver(msg, members[:0], frame, b)
	b.flush()
	frame.reset(bus.Frame{})
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
		b := newBatch()
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
	bt := newBatch()
	list = f.deliverOnce(msg, list, &frame, bt)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += members {
		list = f.deliverOnce(msg, list, &frame, bt)
	}
}

// BenchmarkEventPublish measures frame → event publish for one client.
func BenchmarkEventPublish(b *testing.B) {
	f := newPathFixture(b, 1)
	c := f.conns[0]
	ev := &pendingEvent{kind: bus.EventMessage, data: make([]byte, 64)}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		f.g.publishEvent(c, ev, false)
	}
}

// BenchmarkReplyToWrite measures a worker's reply with one frame → the
// client's write.
func BenchmarkReplyToWrite(b *testing.B) {
	f := newPathFixture(b, 1)
	c := f.conns[0]
	reply := &nats.Msg{Header: nats.Header{bus.HdrStatus: {bus.StatusOK}, bus.HdrFrames: {"64"}}, Data: make([]byte, 64)}
	bt := newBatch()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		f.g.applyReply(c, reply, bt)
		bt.flush()
	}
}
