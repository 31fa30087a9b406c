package gateway

// batch collects, while the fan-out goroutine works through the messages
// that arrived together, the frames each client gets, so that a client
// receives them with one writev instead of one write each. With one
// message at a time it writes at once, as before; the more messages pile
// up, the more each system call carries.
type batch struct {
	frames map[*conn][][]byte
	order  []*conn
}

func newBatch() *batch { return &batch{frames: map[*conn][][]byte{}} }

// add queues a frame for c; the frame is shared and must not change.
func (b *batch) add(c *conn, frame []byte) {
	fs := b.frames[c]
	if len(fs) == 0 {
		b.order = append(b.order, c)
	}
	b.frames[c] = append(fs, frame)
}

// flush writes every client's frames, in the order they were added. The
// per-client slices are kept for the next batch (no allocation in steady
// state) until the map holds many clients that no longer get anything.
func (b *batch) flush() {
	for _, c := range b.order {
		fs := b.frames[c]
		c.sendv(fs)
		clear(fs)
		b.frames[c] = fs[:0]
	}
	if len(b.frames) > 4*len(b.order)+1024 {
		b.frames = map[*conn][][]byte{}
	}
	clear(b.order)
	b.order = b.order[:0]
}
