package gateway

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// TestWriteBatchArenaNotReusedUnderQueuedFrames: a reply frame that a slow
// client's send queue kept must survive the next batch, which would
// otherwise encode over it.
func TestWriteBatchArenaNotReusedUnderQueuedFrames(t *testing.T) {
	f := newPathFixture(t, 2)
	slow, fast := f.conns[0], f.conns[1]
	slow.wmu.Lock()
	slow.flushing = true // a flush is under way: sendv queues instead of writing
	slow.wmu.Unlock()

	b := newWriteBatch()
	if _, err := b.addFrames(slow, "3", []byte("aaa")); err != nil {
		t.Fatal(err)
	}
	b.flush()
	if _, err := b.addFrames(fast, "3", []byte("bbb")); err != nil {
		t.Fatal(err)
	}
	b.flush()

	slow.wmu.Lock()
	queued := slow.wq
	slow.wq, slow.wqBytes, slow.flushing = nil, 0, false // no flusher will come
	slow.wmu.Unlock()
	if len(queued) != 1 || !bytes.Equal(queued[0], appendWSFrame(nil, ws.OpText, []byte("aaa"))) {
		t.Fatalf("queued frames = %q", queued)
	}
}

// TestOverflowCountedOnce: frames that overflow a client's send queue in
// one sendv close it once and count one slow client, not one per frame.
func TestOverflowCountedOnce(t *testing.T) {
	f := newPathFixture(t, 1, SendBufferBytes(1024))
	c := f.conns[0]
	c.wmu.Lock()
	c.flushing = true // a flush is under way: sendv queues instead of writing
	c.wmu.Unlock()
	frame := make([]byte, 600)
	c.sendv([][]byte{frame, frame, frame})
	c.wmu.Lock()
	closed := c.wclosed
	c.flushing = false // no flusher will come
	c.wmu.Unlock()
	if !closed {
		t.Fatal("1,800 bytes for a 1,024-byte send queue left the client open")
	}
	if n := f.g.Stats().Refused["slow_client"]; n != 1 {
		t.Errorf("slow_client counted %d times, want 1", n)
	}
}
