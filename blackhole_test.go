package switchboard

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/natsserver"
)

// blackholeProxy forwards TCP connections to upstream until blackhole is
// called; from then on it forwards nothing, on the connections it has and
// on the ones it accepts, and closes none of them (a dead link: no FIN, no
// RST). heal makes it forward new connections again; the blackholed ones
// stay dead.
type blackholeProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	holding  bool
	links    []*proxyLink
	held     []net.Conn
}

type proxyLink struct {
	a, b net.Conn
	dead atomic.Bool
}

func startBlackholeProxy(t *testing.T, upstream string) *blackholeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{ln: ln, upstream: upstream}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *blackholeProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.holding {
			p.held = append(p.held, c) // accepted, never answered
			p.mu.Unlock()
			continue
		}
		p.mu.Unlock()
		u, err := net.Dial("tcp", p.upstream)
		if err != nil {
			_ = c.Close()
			continue
		}
		l := &proxyLink{a: c, b: u}
		p.mu.Lock()
		p.links = append(p.links, l)
		p.mu.Unlock()
		go l.pipe(u, c)
		go l.pipe(c, u)
	}
}

// pipe copies src to dst while the link lives; a dead link swallows what
// it reads and closes nothing.
func (l *proxyLink) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if l.dead.Load() {
			if err != nil {
				return
			}
			continue
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			if !l.dead.Load() {
				_ = l.a.Close()
				_ = l.b.Close()
			}
			return
		}
	}
}

func (p *blackholeProxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holding = true
	for _, l := range p.links {
		l.dead.Store(true)
	}
}

func (p *blackholeProxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holding = false
}

func (p *blackholeProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.dead.Store(true)
		_ = l.a.Close()
		_ = l.b.Close()
	}
	for _, c := range p.held {
		_ = c.Close()
	}
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestBlackholedNATSLinkIsNoticed: when the link to NATS stops carrying
// anything without closing, the node's pings notice it (here 500 ms × 2),
// /readyz answers 503 while no connection is up, and once the network
// forwards new connections the node reconnects (within 15 s of the
// blackhole), /readyz answers 200 and clients are served again.
func TestBlackholedNATSLinkIsNoticed(t *testing.T) {
	// The server pings as fast: the connections left behind the dead link
	// (the worker's queue subscription would keep taking events) go soon.
	ns, err := natsserver.Start(natsserver.Config{Port: -1, PingInterval: 500 * time.Millisecond, MaxPingsOut: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	proxy := startBlackholeProxy(t, ns.Addr().String())
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Roles = []string{RoleGateway, RoleWorker}
	cfg.NATS.URL = "nats://" + proxy.ln.Addr().String()
	cfg.NATS.PingInterval = 500 * time.Millisecond
	cfg.NATS.MaxPingsOutstanding = 2
	cfg.NATS.ReconnectWait = 100 * time.Millisecond
	cfg.Gateway.Listen = []string{"ws://127.0.0.1:0"}
	cfg.Log.Level = "error"
	n, err := Start(context.Background(), echoEvents{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	base := "http://" + n.GatewayAddr().String()
	c, _, _, err := ws.Dial(context.Background(), "ws://"+n.GatewayAddr().String()+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expectEcho(t, c, "before", 10*time.Second)
	if got := httpStatus(t, base+"/readyz"); got != http.StatusOK {
		t.Fatalf("/readyz = %d before the blackhole", got)
	}

	live := ns.NumClients()
	start := time.Now()
	proxy.blackhole()
	sbtest.Eventually(t, 15*time.Second, "/readyz 503 after the blackhole", func() bool {
		return httpStatus(t, base+"/readyz") == http.StatusServiceUnavailable
	})
	noticed := time.Since(start)
	proxy.heal()
	sbtest.Eventually(t, 15*time.Second, "/readyz 200 after the link heals", func() bool {
		return httpStatus(t, base+"/readyz") == http.StatusOK
	})
	back := time.Since(start)
	t.Logf("blackhole noticed after %v, reconnected %v after the blackhole began", noticed.Round(time.Millisecond), back.Round(time.Millisecond))
	if back > 15*time.Second {
		t.Errorf("reconnected %v after the blackhole, want within 15s", back)
	}
	sbtest.Eventually(t, 15*time.Second, "the server to drop the connections behind the dead link", func() bool {
		return ns.NumClients() == live
	})
	expectEcho(t, c, "after", 10*time.Second)
	t.Logf("echo after %v", time.Since(start))
}
