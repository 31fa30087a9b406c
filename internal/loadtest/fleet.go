package loadtest

import (
	"context"
	"net"
	"sync"
)

// fleet is the client connections of a run and the pollers reading them.
type fleet struct {
	pollers []*poller
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []*Conn
	next    int
	sources int // loopback source addresses to spread over (0: the default)
}

func newFleet(pollers int) (*fleet, error) {
	f := &fleet{stop: make(chan struct{})}
	for range max(pollers, 1) {
		p, err := newPoller()
		if err != nil {
			f.close()
			return nil, err
		}
		f.pollers = append(f.pollers, p)
		f.wg.Add(1)
		go func() { defer f.wg.Done(); p.run(f.stop) }()
	}
	return f, nil
}

func (f *fleet) dial(ctx context.Context, target string, onFrame func(*Conn, []byte)) (*Conn, error) {
	f.mu.Lock()
	p := f.pollers[f.next%len(f.pollers)]
	f.next++
	f.mu.Unlock()
	var src net.IP
	if f.sources > 0 {
		src = net.IPv4(127, 0, byte(f.next/250%250), byte(2+f.next%f.sources))
	}
	c, err := dial(ctx, target, p, onFrame, src)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	c.id = len(f.conns)
	f.conns = append(f.conns, c)
	f.mu.Unlock()
	return c, nil
}

// dialMany opens n connections with at most conc handshakes at once.
func (f *fleet) dialMany(ctx context.Context, target string, n, conc int, onFrame func(*Conn, []byte)) error {
	sem := make(chan struct{}, max(conc, 1))
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := f.dial(ctx, target, onFrame); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when there was none
}

func (f *fleet) close() {
	close(f.stop)
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		_ = c.Close()
	}
	for _, p := range f.pollers {
		p.close()
	}
}
