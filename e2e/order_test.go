package e2e

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// orderCheck records, per client, the numbers it sees and whether two
// events of one client ever overlap, and the most events of different
// clients that run at once.
type orderCheck struct {
	mu       sync.Mutex
	next     map[string]int
	busy     map[string]bool
	errs     []string
	running  atomic.Int32
	maxConc  atomic.Int32
	handled  atomic.Int64
	holdEach time.Duration
}

func (o *orderCheck) OnMessage(c *worker.Context, m worker.Message) error {
	n, err := strconv.Atoi(m.Text())
	if err != nil {
		return c.SendToCurrentClient(m.Data)
	}
	id := c.ClientID()
	o.mu.Lock()
	if o.busy[id] {
		o.errs = append(o.errs, fmt.Sprintf("%s: two events at once", id))
	}
	o.busy[id] = true
	if n != o.next[id] {
		o.errs = append(o.errs, fmt.Sprintf("%s: got %d, want %d", id, n, o.next[id]))
	}
	o.next[id] = n + 1
	o.mu.Unlock()

	r := o.running.Add(1)
	for {
		m := o.maxConc.Load()
		if r <= m || o.maxConc.CompareAndSwap(m, r) {
			break
		}
	}
	time.Sleep(o.holdEach)
	o.running.Add(-1)

	o.mu.Lock()
	o.busy[id] = false
	o.mu.Unlock()
	o.handled.Add(1)
	return c.SendToCurrentClient(m.Data)
}

func TestPerClientOrderWithThreeWorkers(t *testing.T) {
	forBatching(t, testPerClientOrderWithThreeWorkers)
}

func testPerClientOrderWithThreeWorkers(t *testing.T, opts ...gateway.Option) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), opts...)
	o := &orderCheck{next: map[string]int{}, busy: map[string]bool{}, holdEach: 50 * time.Microsecond}
	for range 3 {
		sbtest.Worker(t, ns.ClientURL(), o)
	}
	const clients, perClient = 5, 2000
	var wg sync.WaitGroup
	for range clients {
		c := sbtest.Dial(t, g, "/ws")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				c.Send(strconv.Itoa(i)) // the client sends as fast as it can
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				s, err := c.ReadErr(10 * time.Second)
				if err != nil || s != strconv.Itoa(i) {
					t.Errorf("echo %d: got %q, %v", i, s, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.errs) > 0 {
		t.Fatalf("%d order violations, first: %s", len(o.errs), o.errs[0])
	}
	if got := o.handled.Load(); got != clients*perClient {
		t.Fatalf("handled %d events, want %d", got, clients*perClient)
	}
	if o.maxConc.Load() < 2 {
		t.Fatalf("events of different clients never ran concurrently (max %d)", o.maxConc.Load())
	}
}
