package gateway

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// TestBatchArenaNotReusedUnderQueuedFrames: a reply frame that a slow
// client's send queue kept must survive the next batch, which would
// otherwise encode over it.
func TestBatchArenaNotReusedUnderQueuedFrames(t *testing.T) {
	f := newPathFixture(t, 2)
	slow, fast := f.conns[0], f.conns[1]
	slow.wmu.Lock()
	slow.flushing = true // a flush is under way: sendv queues instead of writing
	slow.wmu.Unlock()

	b := newBatch()
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
