package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// conn is one client connection and the state GatewayWorker keeps with it:
// session, uid, groups.
type conn struct {
	// A group message reads and writes these for every member (inbound.go,
	// writebatch.go, write.go). They fill the struct's first 64 bytes, one
	// cache line, so that a broadcast to 10,000 members misses the cache
	// once per member; spread over the struct, the sendv part of a
	// broadcast's CPU went from 2.3% to 0.4% when they were put here.
	t        transport
	batched  [][]byte   // frames a writeBatch holds for this client (writebatch.go; inbound dispatcher only)
	fd       int        // socket descriptor (netpoll reads, sendv writes); -1 for TLS
	wmu      sync.Mutex // guards the send queue (write.go) and the flags below it
	flushing bool
	wclosed  bool
	closing  bool
	g        *Gateway

	seq         uint64
	id          string
	seqToken    string // seq in base 36, the reply-subject token
	nc          net.Conn
	br          *bufio.Reader // goroutine-per-connection readers only
	wsr         wsReader      // WebSocket: the frame parser and its place (no allocation of its own)
	pending     []byte        // netpoll: bytes the handshake read ahead, until the first read
	readMu      sync.Mutex    // netpoll: held while a goroutine reads
	msgStart    atomic.Int64  // unix nanoseconds when the unfinished message began, 0 if none
	remote      string
	connectedAt time.Time
	lastActive  atomic.Int64 // unix nanoseconds of the last frame read
	tokens      float64      // rate limit bucket, reader goroutine only
	tokensAt    time.Time

	// mu guards the GatewayWorker state.
	mu      sync.Mutex
	session []byte // JSON object, nil when empty; replaced, never modified
	uid     string
	groups  map[string]struct{} // group tokens

	// evMu guards the event pipeline (events.go).
	evMu       sync.Mutex
	evCond     sync.Cond
	queue      eventQueue
	inflight   *pendingEvent
	evSeq      uint64
	registered bool // the connect event was queued: a close event must follow
	closed     bool
	// connectLost: the connect event was dropped (no worker within
	// no_worker_wait, or redeliveries exhausted). No worker saw the client
	// connect, so none may see its later events: it is being closed.
	connectLost bool
	// abandoned: a message event of the client was dropped (abandon.go);
	// it is being closed and nothing more of it goes to a worker but its
	// close event.
	abandoned bool
	// pendingBytes: message bytes of the events in flight and queued,
	// bounded by max_pending_bytes (enqueue).
	pendingBytes int

	// The send queue, under wmu (write.go).
	wq              net.Buffers
	wqBytes         int    // frame bytes plus frameOverhead per frame
	pong            []byte // the latest ping's payload, answered when the queue drains
	pongWaiting     bool
	closeAfterFlush bool
	closeReason     string

	terminateOnce sync.Once
	release       func() // gives the socket's max_connections count back (sockets.go)
}

func newConn(g *Gateway, t transport, nc net.Conn, seq uint64) *conn {
	c := &conn{
		g:           g,
		t:           t,
		seq:         seq,
		id:          wire.ClientID(g.id, seq),
		nc:          nc,
		remote:      nc.RemoteAddr().String(),
		connectedAt: time.Now(),
	}
	c.seqToken = c.id[len(g.id)+1:]
	c.evCond.L = &c.evMu
	c.fd = socketFD(nc)
	c.lastActive.Store(c.connectedAt.UnixNano())
	c.tokens, c.tokensAt = float64(g.opts.rateBurst), c.connectedAt
	return c
}

// allowMessage takes a token from the client's rate limit bucket.
func (c *conn) allowMessage(now time.Time) bool {
	rate := c.g.opts.RateLimit
	if rate == 0 {
		return true
	}
	c.tokens = min(float64(c.g.opts.rateBurst), c.tokens+now.Sub(c.tokensAt).Seconds()*rate)
	c.tokensAt = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// messageBegun notes that a message has begun and not ended (its bytes
// came in more than one read): it must end within message_read_timeout.
func (c *conn) messageBegun() { markBegun(&c.msgStart) }

// markBegun stores the time in start unless start is nil or set.
func markBegun(start *atomic.Int64) {
	if start != nil && start.Load() == 0 {
		start.Store(time.Now().UnixNano())
	}
}

// messageDone notes that no message is unfinished.
func (c *conn) messageDone() {
	if c.msgStart.Load() != 0 {
		c.msgStart.Store(0)
	}
}

// terminate closes the socket at once, takes the client out of its groups
// and uid, and queues its close event. It runs once; later calls do nothing.
func (c *conn) terminate(reason string) {
	c.terminateOnce.Do(func() {
		c.wmu.Lock()
		c.wclosed = true
		c.wq = nil
		c.wmu.Unlock()
		if c.g.poll != nil {
			c.g.poll.forget(c)
		}
		_ = c.nc.Close()
		if c.release != nil {
			c.release()
		}
		c.g.metrics.disconnects.Add(1)
		c.g.hub.detach(c)
		c.g.log.Debug("client closed", "client_id", c.id, "reason", reason)
		c.evMu.Lock()
		c.closed = true
		registered := c.registered
		c.evCond.Broadcast()
		c.evMu.Unlock()
		if registered {
			c.enqueue(c.g.pools.event(wire.EventClose), true)
		} else {
			c.g.hub.remove(c)
		}
	})
}

func (c *conn) isClosed() bool {
	c.evMu.Lock()
	defer c.evMu.Unlock()
	return c.closed
}

func (c *conn) getSession() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// setSession replaces the session; one over max_session_bytes is refused
// (errSessionTooLarge) and counted.
func (c *conn) setSession(b []byte) error {
	if len(b) == 0 || string(b) == "{}" || string(b) == "null" {
		b = nil
	}
	if err := c.checkSessionSize(len(b)); err != nil {
		return err
	}
	c.mu.Lock()
	c.session = b
	c.mu.Unlock()
	return nil
}

// updateSession merges patch into the session; a merge that would pass
// max_session_bytes is refused (errSessionTooLarge), counted, and changes
// nothing.
func (c *conn) updateSession(patch []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	merged, err := wire.MergeSessionJSON(c.session, patch)
	if err != nil {
		return err
	}
	if err := c.checkSessionSize(len(merged)); err != nil {
		return err
	}
	c.session = merged
	return nil
}

// errSessionTooLarge: a session change refused by max_session_bytes.
var errSessionTooLarge = errors.New("session over gateway.max_session_bytes")

func (c *conn) checkSessionSize(n int) error {
	if max := c.g.opts.MaxSessionBytes; n > max {
		c.g.metrics.limits.hit(limitSessionBytes)
		return fmt.Errorf("%w: %d bytes, the most is %d", errSessionTooLarge, n, max)
	}
	return nil
}

// info describes the client for queries.
func (c *conn) info(withUid, withGroups, withSession bool) wire.ClientRecord {
	ci := wire.ClientRecord{ID: c.id, Gateway: c.g.id, Remote: c.remote, ConnectedAt: c.connectedAt}
	c.mu.Lock()
	defer c.mu.Unlock()
	if withUid {
		ci.Uid = c.uid
	}
	if withGroups {
		for tok := range c.groups {
			if name, err := wire.TokenName(tok); err == nil {
				ci.Groups = append(ci.Groups, name)
			}
		}
	}
	if withSession && c.session != nil {
		ci.Session = c.session
	}
	return ci
}
