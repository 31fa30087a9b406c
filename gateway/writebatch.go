package gateway

// writeBatch collects, while the inbound dispatcher works through the
// messages that arrived together, the frames each client gets, so that a
// client receives them with one writev instead of one write each. It is
// the gateway's write-side batch, on the socket side; not to be confused
// with an event batch (eventbatch.go: events to a worker in one NATS
// message) or a reply batch (replybatch.go: a worker's replies in one NATS
// message). With one
// message at a time it writes at once, as before; the more messages pile
// up, the more each system call carries.
//
// Frames made for one client only (a worker's reply to its event) are
// encoded into the batch's arena, which is reused after the flush, so that
// a reply costs no allocation. Frames shared by many clients (group
// messages) are not: they live as long as any member's queue holds them.
//
// A client's frames wait in its conn.batched, not in a map: a broadcast to
// 10,000 members spent 6% of its CPU on map lookups. Only one writeBatch
// may hold frames for a client at a time; the gateway has one, on its
// inbound dispatcher goroutine.
type writeBatch struct {
	order []*conn
	arena []byte
}

// maxArenaBytes bounds the arena a batch keeps between flushes: a rare huge
// reply should not stay allocated for the gateway's lifetime.
const maxArenaBytes = 64 << 10

// maxKeptBatch bounds the frame slice a client keeps between batches.
const maxKeptBatch = 8

func newWriteBatch() *writeBatch { return &writeBatch{} }

// add queues a frame for c; the frame is shared and must not change.
func (b *writeBatch) add(c *conn, frame []byte) {
	if len(c.batched) == 0 {
		b.order = append(b.order, c)
	}
	c.batched = append(c.batched, frame)
}

// addFrames encodes the frames of a multi-frame body for c alone into the
// arena, queues them and counts them. On an error nothing is queued.
func (b *writeBatch) addFrames(c *conn, spec string, body []byte) (int, error) {
	start := len(b.arena)
	out, n, err := c.t.appendFrames(b.arena, spec, body)
	if err != nil {
		b.arena = b.arena[:start]
		return 0, err
	}
	b.arena = out
	if len(out) > start {
		// The full slice expression keeps a later append to the arena
		// from reaching into this frame. If appending moved the arena,
		// frames queued before stay in the old array, which is never
		// reused: only the current array is.
		b.add(c, out[start:len(out):len(out)])
	}
	return n, nil
}

// flush writes every client's frames, in the order they were added. Each
// client keeps its slice for the next batch (no allocation in steady
// state) unless it grew large in a burst.
func (b *writeBatch) flush() {
	retained := false
	for _, c := range b.order {
		fs := c.batched
		if c.sendv(fs) {
			retained = true
		}
		clear(fs)
		c.batched = fs[:0]
		if cap(fs) > maxKeptBatch {
			c.batched = nil
		}
	}
	clear(b.order)
	b.order = b.order[:0]
	b.resetArena(retained)
}

// resetArena makes the arena ready for the next batch. When a client's
// send queue kept frames (its socket was full, or TLS, which always writes
// through the queue) they may point into the arena, so a used arena is
// left to them and the next batch starts a new one.
func (b *writeBatch) resetArena(retained bool) {
	if retained && len(b.arena) > 0 || cap(b.arena) > maxArenaBytes {
		b.arena = nil
		return
	}
	b.arena = b.arena[:0]
}
