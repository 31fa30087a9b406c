package gateway

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestPingFloodHoldsOnePong: while a client's send queue waits for its
// socket (the client reads nothing), a flood of pings is answered by one
// pong, for the latest ping, when the queue drains: 1,000,000 pings keep
// the queue and the heap flat and do not close the client as slow. Before,
// each pong was queued and counted as its 2 to 127 bytes: a flood of
// empty pings grew the heap by hundreds of MiB before send_buffer_bytes
// cut the client off. The socket pair is real; the client never reads.
func TestPingFloodHoldsOnePong(t *testing.T) {
	const pings = 1_000_000
	f := newPathFixture(t, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	_ = client.(*net.TCPConn).SetReadBuffer(4096)
	_ = server.(*net.TCPConn).SetWriteBuffer(4096)
	c := newConn(f.g, transportWS, server, 1)
	f.g.hub.add(c)
	// Fill the socket until the gateway queues: the client reads nothing.
	big := appendWSFrame(nil, 2, []byte(strings.Repeat("x", 64<<10)))
	for c.queuedBytes() == 0 {
		c.send(big)
	}
	before := heapInUse()
	queued := c.queuedBytes()
	payload := []byte(strings.Repeat("p", 125))
	for i := range pings {
		payload[0] = byte(i)
		c.sendPong(payload)
	}
	grown := int64(heapInUse()) - int64(before)
	t.Logf("%d pings while the queue waits: queue %d -> %d bytes, heap grew %d KiB", pings, queued, c.queuedBytes(), grown>>10)
	if c.queuedBytes() > queued+200 {
		t.Errorf("the queue grew from %d to %d bytes: pongs were queued, not coalesced", queued, c.queuedBytes())
	}
	if grown > 4<<20 {
		t.Errorf("heap grew %d KiB during the ping flood", grown>>10)
	}
	if c.isClosed() {
		t.Fatal("the client was closed")
	}
	// Once the client reads, the queue drains and one pong, the latest,
	// follows it.
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := client.Read(buf); err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for c.queuedBytes() > 0 || c.pongPendingForTest() {
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained: %d bytes, pong waiting %v", c.queuedBytes(), c.pongPendingForTest())
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *conn) pongPendingForTest() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.pongWaiting || c.flushing
}
