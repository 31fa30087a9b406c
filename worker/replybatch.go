package worker

import (
	"runtime"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// Reply batches (docs/protocol.md, "Reply batches"), the mirror of the
// gateway's event batches. The answer to an event that came in a batch
// does not go to NATS from its handler's goroutine: it joins its gateway's
// list, and one publisher goroutine publishes whatever each list holds
// when it gets to run, as one message per gateway. A busy worker so sends
// a gateway one message for many replies; when only one is waiting it
// goes alone, as it always did. Events that came alone are answered
// alone: their gateway is quiet, and the reply should not wait.
//
// The gateway reads a reply batch in its gateway/replybatch.go; it has
// nothing to do with the gateway's writeBatch, which coalesces one
// client's socket writes.

const (
	// maxBatchReplyBytes: a reply with more frame bytes goes alone.
	maxBatchReplyBytes = 16 << 10
	// maxReplyBatchBytes bounds one reply batch: its frames and lists.
	maxReplyBatchBytes = 64 << 10
	// maxReplyBatch bounds the replies in one batch.
	maxReplyBatch = 64
)

// replyBatcher collects replies for the publisher goroutine, per gateway.
type replyBatcher struct {
	mu      sync.Mutex
	waiting map[string]*replyList // by gateway id
	free    []*replyList
	running bool // the publisher goroutine is there to take waiting
	limit   int  // bytes per batch: maxReplyBatchBytes or less
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// replyList is the replies waiting for one gateway: the lists and body of
// the batch they will be.
type replyList struct {
	gateway  string
	first    string // the reply subject of the first reply
	n        int
	refs     []byte   // HdrReplies
	spec     []byte   // HdrFrames
	body     []byte   // the frames
	sets     []string // HdrSessionSet, one per reply
	updates  []string // HdrSessionUpd, one per reply
	sessions int      // bytes of sets and updates
}

// replyParts is what a reply batch carries of one reply.
type replyParts struct {
	spec, body  []byte // its frame list and frames
	frames      int    // how many frames spec lists
	set, update string // its session change, "" for none
}

// sessionLineBytes is about what a reply's two session header lines cost
// beyond their values.
const sessionLineBytes = wire.SessionHeaderBytes

// size is about what the list's batch holds besides its subject; 0 for
// no list.
func (l *replyList) size() int {
	if l == nil {
		return 0
	}
	return len(l.refs) + len(l.spec) + len(l.body) + l.sessions + l.n*sessionLineBytes
}

// reset empties l for reuse, dropping its references to session strings.
func (l *replyList) reset() {
	l.gateway, l.first, l.n = "", "", 0
	l.refs, l.spec, l.body = l.refs[:0], l.spec[:0], l.body[:0]
	clear(l.sets)
	clear(l.updates)
	l.sets, l.updates, l.sessions = l.sets[:0], l.updates[:0], 0
}

// header returns values as a header's values when one of them says
// something, else nil: the header is left out.
func header(values []string) []string {
	for _, v := range values {
		if v != "" {
			return values
		}
	}
	return nil
}

func newReplyBatcher() *replyBatcher {
	return &replyBatcher{waiting: map[string]*replyList{}, wake: make(chan struct{}, 1)}
}

// add queues the reply to ev, which came in a batch. It returns false
// when the reply must be published at once instead: it is big, its
// gateway's batch is full, or the publisher stopped.
func (rb *replyBatcher) add(ev *event, r replyParts) bool {
	spec, body := r.spec, r.body
	sessions := len(r.set) + len(r.update)
	if len(body)+sessions > maxBatchReplyBytes {
		return false
	}
	frames := r.frames
	gateway, ref := ev.gateway, ev.ref
	rb.mu.Lock()
	if !rb.running {
		rb.mu.Unlock()
		return false
	}
	l := rb.waiting[gateway]
	if l != nil && l.n >= maxReplyBatch || l.size()+len(ref)+len(spec)+len(body)+sessions+sessionLineBytes+8 > rb.limit {
		rb.mu.Unlock()
		return false
	}
	if l == nil {
		l = rb.takeList(gateway)
		l.first = ev.reply
		rb.waiting[gateway] = l
	}
	l.n++
	l.refs = wire.AppendReplyRef(l.refs, ref, frames)
	if len(spec) > 0 {
		if len(l.spec) > 0 {
			l.spec = append(l.spec, ',')
		}
		l.spec = append(l.spec, spec...)
	}
	l.body = append(l.body, body...)
	l.sets, l.updates = append(l.sets, r.set), append(l.updates, r.update)
	l.sessions += sessions
	rb.mu.Unlock()
	select {
	case rb.wake <- struct{}{}:
	default:
	}
	return true
}

// takeList returns an empty list for gateway, reusing one; rb.mu is held.
func (rb *replyBatcher) takeList(gateway string) *replyList {
	if n := len(rb.free); n > 0 {
		l := rb.free[n-1]
		rb.free = rb.free[:n-1]
		l.gateway = gateway
		return l
	}
	return &replyList{gateway: gateway}
}

// startReplies starts the publisher goroutine.
func (w *Worker) startReplies() {
	rb := w.rb
	rb.mu.Lock()
	rb.running = true
	rb.limit = min(maxReplyBatchBytes, int(w.nc.MaxPayload()/2))
	rb.stop, rb.done = make(chan struct{}), make(chan struct{})
	rb.mu.Unlock()
	go w.runReplies()
}

// stopReplies publishes what is waiting and stops the publisher; replies
// added later go alone.
func (w *Worker) stopReplies() {
	rb := w.rb
	if rb.stop == nil {
		return
	}
	close(rb.stop)
	<-rb.done
	rb.stop = nil
}

// runReplies is the publisher goroutine.
func (w *Worker) runReplies() {
	rb := w.rb
	defer close(rb.done)
	var (
		lists []*replyList
		msg   = nats.Msg{Header: nats.Header{}}
	)
	for {
		stopping := false
		select {
		case <-rb.wake:
		case <-rb.stop:
			stopping = true
		}
		// The handler that woke us made us run next on its P, ahead of
		// the handlers it queued behind it: let them finish first.
		runtime.Gosched()
		rb.mu.Lock()
		for _, l := range rb.waiting {
			lists = append(lists, l)
		}
		clear(rb.waiting)
		if stopping {
			rb.running = false
		}
		rb.mu.Unlock()
		for _, l := range lists {
			w.publishReplies(&msg, l)
		}
		rb.mu.Lock()
		for _, l := range lists {
			l.reset()
			if cap(l.body) <= maxReplyBatchBytes {
				rb.free = append(rb.free, l)
			}
		}
		rb.mu.Unlock()
		clear(lists)
		lists = lists[:0]
		if stopping {
			return
		}
	}
}

// publishReplies publishes the replies of l: alone when there is one, as
// a batch otherwise. msg is reused; nats.go is done with what it points
// to when PublishMsg returns.
func (w *Worker) publishReplies(msg *nats.Msg, l *replyList) {
	clear(msg.Header)
	msg.Data = l.body
	var refs, frames []byte
	if l.n == 1 {
		// Alone, as §5.2 has it: each header only when it says something.
		msg.Subject = l.first
		if wire.NeedsFrameList(l.spec, l.body) {
			frames = l.spec
		}
	} else {
		msg.Subject = w.subj.GatewayReplyBatch(l.gateway)
		refs, frames = l.refs, l.spec
	}
	// One value per reply (alone: its change), each header only when a
	// reply has that change.
	wire.SetReplyHeader(msg.Header, refs, frames, header(l.sets), header(l.updates))
	if err := w.nc.PublishMsg(msg); err != nil {
		w.log.Warn("reply to gateway", "gateway_id", l.gateway, "replies", l.n, "err", err)
	}
}
