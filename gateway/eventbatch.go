package gateway

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// Event batches (docs/protocol.md, "Event batches"). Message events do not
// go to NATS from the goroutine that read them: they join a list, and one
// publisher goroutine per gateway publishes whatever the list holds when it
// gets to run. When the gateway is quiet that is one event, sent as it
// always was; when it is busy, events of many clients pile up meanwhile and
// go out as one NATS message, which the server routes and a worker reads
// once. Each client still has one event in flight (events.go), so batching
// never reorders a client's events.
//
// An event batch goes from the gateway to a worker. It is not the reply
// batch (replybatch.go: a worker's answers, read on the inbound dispatcher)
// nor the writeBatch (writebatch.go: one client's frames in one writev).

const (
	// maxBatchEventBytes: a message bigger than this is published alone.
	maxBatchEventBytes = 16 << 10
	// maxBatchBodyBytes bounds one batch: its body and header values.
	maxBatchBodyBytes = 64 << 10
	// batchPause is how long a gateway publishes events one by one after
	// a batch found no worker that takes batches.
	batchPause = time.Second
)

// batchItem is an event waiting for the publisher and its client.
type batchItem struct {
	c  *conn
	ev *pendingEvent
}

// batcher collects message events for the publisher goroutine.
type batcher struct {
	max         int // events per batch; below 2 batching is off
	mu          sync.Mutex
	waiting     []batchItem
	running     bool // the publisher goroutine is there to take waiting
	wake        chan struct{}
	pausedUntil atomic.Int64 // unix nanoseconds; see batchPause
	holdouts    atomic.Int32 // live workers that do not take batches (fleet.go)
	batches     atomic.Uint64
	batched     atomic.Uint64 // events sent in batches
}

func newBatcher(max int) *batcher {
	return &batcher{max: max, wake: make(chan struct{}, 1)}
}

// add hands ev, whose publish the caller counted, to the publisher. It
// returns false when ev must be published at once instead: batching is
// off or paused, the message is big, or the publisher stopped.
func (bt *batcher) add(c *conn, ev *pendingEvent) bool {
	if bt.max < 2 || ev.kind != wire.EventMessage || len(ev.data) > maxBatchEventBytes || bt.holdouts.Load() > 0 {
		return false
	}
	// The clock is read only while a pause is set, not for every message.
	if until := bt.pausedUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		return false
	}
	bt.mu.Lock()
	if !bt.running {
		bt.mu.Unlock()
		return false
	}
	bt.waiting = append(bt.waiting, batchItem{c, ev})
	bt.mu.Unlock()
	select {
	case bt.wake <- struct{}{}:
	default:
	}
	return true
}

// pause makes the gateway publish events one by one for batchPause.
func (bt *batcher) pause(now time.Time) { bt.pausedUntil.Store(now.Add(batchPause).UnixNano()) }

// runBatcher is the publisher goroutine. At stop it publishes what is
// still waiting and leaves; add then declines.
func (g *Gateway) runBatcher() {
	defer g.wg.Done()
	bt := g.batcher
	var (
		items []batchItem
		bm    batchMsg
	)
	for {
		stopping := false
		select {
		case <-bt.wake:
		case <-g.stop:
			stopping = true
		}
		// The goroutine that woke us made us run next on its P, ahead of
		// the goroutines it readied before: let them add their events.
		runtime.Gosched()
		bt.mu.Lock()
		items, bt.waiting = bt.waiting, items[:0]
		if stopping {
			bt.running = false
		}
		bt.mu.Unlock()
		for rest := items; len(rest) > 0; {
			rest = rest[g.publishBatch(&bm, rest):]
		}
		clear(items) // the array goes back to add: drop the references
		if stopping {
			return
		}
	}
}

// publishBatch publishes the first events of items, as many as fit one
// batch, and returns how many it took. One event goes alone, as if it had
// never waited. A batch counts its header values (remote addresses and
// sessions, which can be large) as well as its body, against at most half
// of the server's max_payload, so that it never outgrows what one event
// may be.
func (g *Gateway) publishBatch(bm *batchMsg, items []batchItem) int {
	limit := min(maxBatchBodyBytes, int(g.nc.MaxPayload()/2))
	n, size := 0, 0
	for n < len(items) && n < g.batcher.max {
		size += batchEntrySize(items[n])
		if n > 0 && size > limit {
			break
		}
		n++
	}
	if n == 1 {
		g.publishSingle(items[0].c, items[0].ev, false)
		return 1
	}
	bm.fill(g, items[:n])
	err := g.nc.PublishMsg(&bm.msg)
	bm.reset()
	if errors.Is(err, nats.ErrMaxPayload) {
		// Not expected with the limit above; the events still fit alone.
		g.log.Warn("event batch too large; publishing its events one by one", "events", n)
		for _, it := range items[:n] {
			g.publishSingle(it.c, it.ev, false)
		}
		return n
	}
	if err != nil {
		g.log.Warn("publish event batch", "events", n, "err", err)
	}
	g.metrics.eventsOut.Add(uint64(n))
	g.batcher.batches.Add(1)
	g.batcher.batched.Add(uint64(n))
	for _, it := range items[:n] {
		it.c.publishDone(it.ev, err != nil)
	}
	return n
}

// batchEntrySize is about what one event adds to a batch: its body, its
// header values and their header lines, its reply subject tokens.
func batchEntrySize(it batchItem) int {
	return len(it.ev.data) + len(it.c.remote) + len(it.c.getSession()) + 64
}

// batchMsg is the NATS message a batch is published as, reused by the
// publisher goroutine: its header values, frame list, body and reply
// subject keep their room between batches.
type batchMsg struct {
	msg      nats.Msg
	remotes  []string
	sessions []string
	spec     []byte
	body     []byte
	subjects []byte
	deadline []byte
	specVal  [1]string
	dlVal    [1]string
}

// fill makes bm the batch of items' events. The header values and
// subjects alias bm's buffers and the clients' fields, as wire.EventWriter's do
// (pool.go: nats.go is done with them when PublishMsg returns).
func (bm *batchMsg) fill(g *Gateway, items []batchItem) {
	if bm.msg.Header == nil {
		bm.msg.Header = make(nats.Header, 4)
	}
	b := g.subj.AppendEventBatch(bm.subjects[:0], wire.EventMessage)
	n := len(b)
	b = g.subj.AppendGatewayBatchReply(b, g.id)
	bm.spec, bm.body = bm.spec[:0], bm.body[:0]
	bm.remotes, bm.sessions = bm.remotes[:0], bm.sessions[:0]
	anySession := false
	for _, it := range items {
		b = wire.AppendBatchEntry(b, it.c.seqToken, it.ev.seq)
		bm.spec = wire.AppendFrameSpec(bm.spec, wire.Frame{Data: it.ev.data, Binary: it.ev.binary})
		bm.body = append(bm.body, it.ev.data...)
		bm.remotes = append(bm.remotes, it.c.remote)
		s := it.c.getSession()
		anySession = anySession || s != nil
		bm.sessions = append(bm.sessions, bytesString(s))
	}
	bm.subjects = b
	bm.msg.Subject, bm.msg.Reply = bytesString(b[:n]), bytesString(b[n:])
	bm.specVal[0] = bytesString(bm.spec)
	// One deadline for the batch: event_timeout from now. Each event's
	// own deadline at the gateway started when it was handed to the
	// publisher, microseconds earlier, well within the skew workers allow.
	bm.deadline = wire.AppendDeadline(bm.deadline[:0], time.Now().Add(g.opts.EventTimeout))
	bm.dlVal[0] = bytesString(bm.deadline)
	sessions := bm.sessions
	if !anySession {
		sessions = nil
	}
	wire.SetBatchHeader(bm.msg.Header, bm.specVal[:], bm.remotes, bm.dlVal[:], sessions)
	bm.msg.Data = bm.body
}

// reset drops the references into the clients before the next batch.
func (bm *batchMsg) reset() {
	bm.msg.Subject, bm.msg.Reply, bm.msg.Data = "", "", nil
	bm.specVal[0], bm.dlVal[0] = "", ""
	clear(bm.remotes)
	clear(bm.sessions)
}

// onBatchBounce handles the server's "no responders" to a batch: no worker
// takes batches (only workers that do not know them are running, or none
// at all). Each event is published again on its own at once, and the
// gateway stops batching for batchPause.
func (g *Gateway) onBatchBounce(m *nats.Msg) {
	if !wire.NoResponders(m) {
		return
	}
	now := time.Now()
	g.batcher.pause(now)
	_, entries, err := g.subj.BatchReply(m.Subject)
	if err != nil {
		g.log.Warn("malformed batch reply subject", "subject", m.Subject)
		return
	}
	g.log.Debug("no worker takes event batches; publishing events one by one", "events", len(entries)/2)
	for i := 0; i < len(entries); i += 2 {
		seq, evSeq, ok := wire.ParseEventRef(entries[i], entries[i+1])
		if !ok {
			continue
		}
		c := g.hub.get(seq)
		if c == nil {
			continue
		}
		c.evMu.Lock()
		ev := c.inflightLocked(evSeq)
		if ev == nil {
			c.evMu.Unlock()
			continue
		}
		ev.publishing++
		c.evMu.Unlock()
		g.publishSingle(c, ev, ev.redeliveries > 0)
	}
}
