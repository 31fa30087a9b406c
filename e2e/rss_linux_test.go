//go:build linux

package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// The RSS tests (issue 13, items 3 and 6) run the gateway as a process of
// its own (testdata/rssgateway) and read its resident set in
// /proc/<pid>/status, so that what they measure is the gateway's alone:
// NATS, the workers and the hostile clients live in the test process.
// Each attack gets a fresh gateway. RSS is read before the attack; the
// gateway's peak (VmHWM, reset through /proc/<pid>/clear_refs just before
// the attack) once the gateway has provably received the whole attack (a
// counter says so); and after the attackers left. The peak's rise is
// asserted under the per-client worst case of docs/security.md
// ("Per-client limits") for the terms the attack can fill, times the
// number of attackers, with the Go runtime's allowance (rssAllowed).

// Terms of the per-client formula (docs/security.md), in bytes.
const (
	// connBytes is the connection itself on ws:// (the item 6 attacks'
	// transport): about 2.8 KiB idle at 19,000 connections, 4.7 KiB
	// measured at 1,000 with the handshakes' garbage (wss:// costs 25 KiB:
	// TLS state and a reader goroutine).
	connBytes = 8 << 10
	// readerBytes is the reader's buffers beyond the message: netpoll's
	// 4 KiB read buffer, a frame buffer's 4 KiB growth step, bufio's 512 B.
	readerBytes = 8 << 10
	// eventBytes is what one pending event costs besides its message.
	eventBytes = 200
	// pongBytes is the one pong a client can have waiting.
	pongBytes = 127
	// groupBytes is one group membership.
	groupBytes = 2 << 10
	// frameOverhead is what send_buffer_bytes counts per queued frame.
	frameOverhead = 32
	// replyBytes is a worker's reply to a client's event while it waits
	// in the gateway's NATS subscription and is applied: nats.go holds the
	// message and its decoded headers, twice its size when it is mostly a
	// session (at most twice NATS's max_payload). TestRSSBigSession's
	// replies carry a 1 MiB session.
	replyBytes = 2 << 20
)

// rssAllowed is how far the gateway's RSS may rise when the attack can
// make it hold live bytes: the Go collector lets garbage grow to the size
// of the live heap before it collects (GOGC=100), and the heap it had
// before the attack, so the rise can reach twice the live bytes, plus a
// fixed slack for the runtime's own structures and pages not yet returned
// to the kernel.
func rssAllowed(live int64) int64 { return 2*live + rssSlack }

const rssSlack = 8 << 20

// rssGateway is a gateway process started by startRSSGateway.
type rssGateway struct {
	t     *testing.T
	pid   int
	addrs []string
	stats string // host:port of its /stats
	http  *http.Client
}

// buildRSSGateway builds testdata/rssgateway into the test's temporary
// directory.
func buildRSSGateway(t *testing.T) string {
	t.Helper()
	return buildProgram(t, "./testdata/rssgateway")
}

// startRSSGateway starts the gateway process on natsURL with the given
// flags and waits for its ready line. It is stopped at the test's end.
func startRSSGateway(t *testing.T, bin, natsURL string, args ...string) *rssGateway {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-nats", natsURL}, args...)...)
	exited, out := sbtest.Start(t, cmd)
	const prefix = "rssgateway: ready "
	deadline := time.Now().Add(30 * time.Second)
	var line string
	for {
		s := out.String()
		if i := strings.Index(s, prefix); i >= 0 {
			if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
				line = s[i+len(prefix) : i+j]
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("the gateway exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not get ready:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	var ready struct {
		Addrs []string `json:"addrs"`
		Stats string   `json:"stats"`
	}
	if err := json.Unmarshal([]byte(line), &ready); err != nil {
		t.Fatalf("ready line %q: %v", line, err)
	}
	g := &rssGateway{t: t, pid: cmd.Process.Pid, addrs: ready.Addrs, stats: ready.Stats, http: &http.Client{Timeout: 10 * time.Second}}
	t.Cleanup(g.http.CloseIdleConnections)
	return g
}

// startRSSAttack starts what an attack on one gateway needs: a NATS
// server, a worker with events, and the gateway process with args,
// warmed up. It returns the gateway and the NATS server's URL.
func startRSSAttack(t *testing.T, events any, args ...string) (*rssGateway, string) {
	t.Helper()
	ns := sbtest.NATS(t)
	sbtest.Worker(t, ns.ClientURL(), events)
	g := startRSSGateway(t, buildRSSGateway(t), ns.ClientURL(), args...)
	g.warmUp()
	return g, ns.ClientURL()
}

// dialWS opens n WebSocket clients to the gateway, with a receive buffer
// of rcvbuf bytes (0: the system's); they are closed at the test's end.
func (g *rssGateway) dialWS(n, rcvbuf int) []net.Conn {
	g.t.Helper()
	return dialAll(g.t, n, dialWSFunc(g.t, wsDialer(false, rcvbuf), "ws://"+g.addr("ws")+"/"))
}

// warmUp opens and closes 500 WebSocket clients, so that the gateway's
// heap has grown to its collector's pace before an attack is measured:
// what a fresh process takes once for its first traffic is not the
// attack's.
func (g *rssGateway) warmUp() {
	g.t.Helper()
	t := g.t
	start := g.rss()
	closeAll(g, g.dialWS(500, 0))
	t.Logf("warm-up: gateway RSS %.1f -> %.1f MiB", mib(start), mib(g.rss()))
}

// addr returns the host:port of the gateway's listener for scheme.
func (g *rssGateway) addr(scheme string) string {
	for _, a := range g.addrs {
		if h, ok := strings.CutPrefix(a, scheme+"://"); ok {
			return h
		}
	}
	g.t.Fatalf("no %s listener in %v", scheme, g.addrs)
	return ""
}

// Stats returns the gateway's counters.
func (g *rssGateway) Stats() gateway.Stats {
	g.t.Helper()
	resp, err := g.http.Get("http://" + g.stats + "/stats")
	if err != nil {
		g.t.Fatalf("stats: %v", err)
	}
	defer resp.Body.Close()
	var st gateway.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		g.t.Fatalf("stats: %v", err)
	}
	return st
}

// waitFor polls the gateway's counters until cond holds.
func (g *rssGateway) waitFor(timeout time.Duration, what string, cond func(gateway.Stats) bool) gateway.Stats {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := g.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out waiting for %s (stats %+v)", what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// status reads a "Vm…: N kB" line of /proc/<pid>/status, in bytes.
func (g *rssGateway) status(key string) int64 {
	g.t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(g.pid) + "/status")
	if err != nil {
		g.t.Fatalf("read the gateway's status: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				g.t.Fatalf("%s in the gateway's status: %v", key, err)
			}
			return kb << 10
		}
	}
	g.t.Fatalf("no %s in the gateway's status", key)
	return 0
}

// rss is the gateway's resident set now.
func (g *rssGateway) rss() int64 { return g.status("VmRSS") }

// startPeak resets the gateway's peak resident set (VmHWM) to its
// current one and returns that.
func (g *rssGateway) startPeak() int64 {
	g.t.Helper()
	if err := os.WriteFile("/proc/"+strconv.Itoa(g.pid)+"/clear_refs", []byte("5"), 0); err != nil {
		g.t.Fatalf("reset the gateway's peak RSS: %v", err)
	}
	return g.rss()
}

// peak is the gateway's peak resident set since startPeak.
func (g *rssGateway) peak() int64 { return g.status("VmHWM") }

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// rssReport logs an attack's figures and fails the test when the peak
// rose by bound or more.
func rssReport(t *testing.T, attack string, before, peak, after, bound int64) {
	t.Helper()
	t.Logf("%s: gateway RSS before %.1f MiB, peak %.1f MiB (%+.1f), after %.1f MiB; bound %+.1f MiB",
		attack, mib(before), mib(peak), mib(peak-before), mib(after), mib(bound))
	if peak-before >= bound {
		t.Errorf("%s: the gateway's RSS rose by %.1f MiB, over the bound of %.1f MiB", attack, mib(peak-before), mib(bound))
	}
}

// dialAll opens n connections with dial, 32 at a time; they are closed
// at the test's end.
func dialAll(t *testing.T, n int, dial func() (net.Conn, error)) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			conns[i], errs[i] = dial()
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("dial: %v", err)
	}
	return conns
}

// closeAll closes conns and waits until the gateway has no client left.
func closeAll(g *rssGateway, conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
	g.waitFor(30*time.Second, "every client gone", func(st gateway.Stats) bool { return st.Connections == 0 })
}

// wsDialer dials WebSocket clients; a non-zero rcvbuf sets the client's
// socket receive buffer before it connects (a client that reads nothing
// fills it at once).
func wsDialer(deflate bool, rcvbuf int) ws.Dialer {
	d := ws.Dialer{
		TLSConfig: &tls.Config{InsecureSkipVerify: true}, // the test's self-signed certificate
		Timeout:   10 * time.Second,
	}
	if deflate {
		params := wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
		d.Extensions = []httphead.Option{params.Option()}
	}
	if rcvbuf > 0 {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}}
		d.NetDial = nd.DialContext
	}
	return d
}

func dialWSFunc(t *testing.T, d ws.Dialer, url string) func() (net.Conn, error) {
	return func() (net.Conn, error) {
		c, hs, err := sbtest.DialHandshake(t.Context(), d, url)
		if err == nil && len(d.Extensions) > 0 && len(hs.Extensions) == 0 {
			c.Close()
			return nil, errors.New("permessage-deflate not accepted")
		}
		return c, err
	}
}

// TestRSSAnnouncedMessages is issue 13's item 3 measured as the issue
// states it: on every transport, 1,000 sockets each sending a frame
// header that announces 1 MiB and then one byte raise the gateway's RSS by
// less than 30 MiB (before the fix: from 34 to 1,033 MiB), and by less
// than the per-client formula's "message being read" term for what
// arrived. The gateway has received every header when each of the 1,000
// messages has been closed by message_read_timeout (only a begun message
// is); the peak is read then.
func TestRSSAnnouncedMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 sockets on each of 6 transports, each in a gateway process")
	}
	const (
		sockets = 1000
		limit   = 30 << 20
		timeout = 2 * time.Second
	)
	bin := buildRSSGateway(t)
	ns := sbtest.NATS(t)
	sbtest.Worker(t, ns.ClientURL(), echo{})
	certFile, keyFile := sbtest.WriteCert(t, t.TempDir(), 1)
	wsHeader := func(rsv1 bool) []byte {
		b0 := byte(0x82)
		if rsv1 {
			b0 |= 0x40
		}
		return append(binary.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, 1<<20), 1, 2, 3, 4, 'x')
	}
	modes := []struct {
		name   string
		scheme string
		args   []string
		ws     bool
		dial   func(addr string) func() (net.Conn, error)
		header []byte
	}{
		{"ws (netpoll)", "ws", nil, true,
			func(a string) func() (net.Conn, error) { return dialWSFunc(t, wsDialer(false, 0), "ws://"+a+"/") }, wsHeader(false)},
		{"ws (reader goroutine)", "ws", []string{"-netpoll=false"}, true,
			func(a string) func() (net.Conn, error) { return dialWSFunc(t, wsDialer(false, 0), "ws://"+a+"/") }, wsHeader(false)},
		{"wss", "wss", []string{"-cert", certFile, "-key", keyFile}, true,
			func(a string) func() (net.Conn, error) { return dialWSFunc(t, wsDialer(false, 0), "wss://"+a+"/") }, wsHeader(false)},
		{"ws with permessage-deflate", "ws", []string{"-compression"}, true,
			func(a string) func() (net.Conn, error) { return dialWSFunc(t, wsDialer(true, 0), "ws://"+a+"/") }, wsHeader(true)},
		{"tcp+frame", "tcp+frame", nil, false,
			func(a string) func() (net.Conn, error) { return func() (net.Conn, error) { return net.Dial("tcp", a) } },
			append(binary.BigEndian.AppendUint32(nil, 1<<20), 'x')},
		{"tcp+text", "tcp+text", nil, false, // no length to announce: a line that never ends
			func(a string) func() (net.Conn, error) { return func() (net.Conn, error) { return net.Dial("tcp", a) } },
			[]byte("x")},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			args := append([]string{"-listen", m.scheme + "://127.0.0.1:0", "-message-read-timeout", timeout.String()}, m.args...)
			g := startRSSGateway(t, bin, ns.ClientURL(), args...)
			idle := g.rss()
			conns := dialAll(t, sockets, m.dial(g.addr(m.scheme)))
			g.waitFor(30*time.Second, "every client registered", func(st gateway.Stats) bool { return st.Connections == sockets })
			before := g.startPeak()
			for _, c := range conns {
				if _, err := c.Write(m.header); err != nil {
					t.Fatal(err)
				}
			}
			if st := g.Stats(); st.Refused["message_read_timeout"] != 0 {
				t.Fatalf("%d clients closed before every header was sent: the test was too slow for its %v timeout", st.Refused["message_read_timeout"], timeout)
			}
			// Only a begun message is closed by message_read_timeout: once
			// all are, every header was read.
			g.waitFor(timeout+30*time.Second, "every announced message closed", func(st gateway.Stats) bool {
				return st.Refused["message_read_timeout"] == sockets
			})
			peak := g.peak()
			closeAll(g, conns)
			after := g.rss()
			t.Logf("%d idle clients: RSS %.1f -> %.1f MiB (%.1f KiB each)", sockets, mib(idle), mib(before), float64(before-idle)/sockets/1024)
			// What arrived (the header and a byte) fits the first 4 KiB
			// step of a frame's buffer.
			formula := rssAllowed(sockets * readerBytes)
			rssReport(t, fmt.Sprintf("%d clients announcing 1 MiB and sending 1 byte", sockets), before, peak, after, min(limit, formula))
		})
	}
}

// parker is a worker that is slow: it counts each message event and holds
// it until release closes.
type parker struct {
	got     atomic.Int64
	release chan struct{}
}

func (p *parker) OnMessage(*worker.Context, worker.Message) error {
	p.got.Add(1)
	<-p.release
	return nil
}

// TestRSSPendingEventsWhileWorkersAreSlow is issue 13's item 6, first
// attack: clients send max_message_bytes messages as fast as TCP lets
// them while the only worker holds every event. Each client's event in
// flight holds max_pending_bytes, the next message waits, read, in the
// reader, and the reader stops (before the fix, max_pending_events ×
// max_message_bytes waited: about 145 MiB per client). The gateway has
// the whole attack when the worker holds one event per client and every
// client's reader has stopped once (Stats.Backpressure).
func TestRSSPendingEventsWhileWorkersAreSlow(t *testing.T) {
	if testing.Short() {
		t.Skip("a gateway process and 3 MiB from each of 16 clients")
	}
	const (
		clients         = 16
		messagesEach    = 3       // one in flight, one read and waiting, one in the socket
		maxMessageBytes = 1 << 20 // the defaults
		maxPendingBytes = 1 << 20
		maxPendingEvts  = 64
	)
	p := &parker{release: make(chan struct{})}
	g, _ := startRSSAttack(t, p, "-event-timeout", "1m")
	before := g.startPeak()
	conns := g.dialWS(clients, 0)
	release := sync.OnceFunc(func() { close(p.release) })
	t.Cleanup(release) // before the worker's cleanup stops it
	// One masked frame, written by every client (masking 48 MiB under
	// the race detector would take longer than the attack).
	frame, err := ws.CompileFrame(ws.MaskFrameInPlace(ws.NewBinaryFrame(make([]byte, maxMessageBytes))))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		go func() {
			for range messagesEach {
				if _, err := c.Write(frame); err != nil {
					return // closed at the end
				}
			}
		}()
	}
	g.waitFor(30*time.Second, "every client's reader stopped", func(st gateway.Stats) bool {
		return p.got.Load() == clients && st.Backpressure >= clients
	})
	st := g.Stats()
	peak := g.peak()
	// A reader that waits for room does not see its client leave: the
	// worker must answer first.
	for _, c := range conns {
		c.Close()
	}
	release()
	closeAll(g, nil)
	after := g.rss()
	t.Logf("most pending for one client %d KiB, readers stopped %d times, events at the worker %d", st.MaxPendingBytes>>10, st.Backpressure, p.got.Load())
	live := int64(clients * (connBytes + readerBytes + maxMessageBytes + max(maxPendingBytes, maxMessageBytes) + (maxPendingEvts+1)*eventBytes))
	rssReport(t, fmt.Sprintf("%d clients parking events", clients), before, peak, after, rssAllowed(live))
}

// msgCounter is a worker that counts message events and answers nothing.
type msgCounter struct{ got atomic.Int64 }

func (m *msgCounter) OnMessage(*worker.Context, worker.Message) error {
	m.got.Add(1)
	return nil
}

// TestRSSPingFlood is item 6's ping flood: clients that read nothing send
// 60,000 pings each (8 MiB). The pongs fill the socket, and then only the
// latest ping is kept to be answered (before the fix every pong was
// queued: one client's million pings took the gateway from 24 to 202
// MiB). A text message after the pings tells when the gateway has read
// them all: the worker gets it once every ping before it was parsed. The
// clients then read: fewer pongs than pings, the last one for the last
// ping, show the coalescing.
func TestRSSPingFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a gateway process and 600,000 pings")
	}
	const (
		clients = 10
		pings   = 60_000
	)
	w := &msgCounter{}
	g, _ := startRSSAttack(t, w)
	before := g.startPeak()
	conns := g.dialWS(clients, 4096)
	// Every client sends the same masked pings: 125-byte payloads, the
	// most a control frame carries.
	// The last ping says "last", so that its pong can be told apart.
	var flood []byte
	for i := range pings {
		payload := []byte(strings.Repeat("p", 125))
		if i == pings-1 {
			payload = []byte("last")
		}
		b, err := ws.CompileFrame(ws.MaskFrameInPlace(ws.NewPingFrame(payload)))
		if err != nil {
			t.Fatal(err)
		}
		flood = append(flood, b...)
	}
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Write(flood); err != nil {
				errs[i] = err
				return
			}
			errs[i] = wsutil.WriteClientText(c, []byte("done"))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	st := g.waitFor(60*time.Second, "every flood read", func(st gateway.Stats) bool {
		return w.got.Load() == clients || st.Connections < clients
	})
	peak := g.peak()
	if st.Connections != clients {
		rssReport(t, fmt.Sprintf("%d clients flooding pings", clients), before, peak, g.rss(), rssAllowed(int64(clients*(connBytes+readerBytes+pongBytes))))
		t.Fatalf("%d clients left during the flood, want %d (none closed); closed as slow: %d", st.Connections, clients, st.Refused["slow_client"])
	}
	// Now the clients read: the pongs that reached their sockets, then
	// the one for the latest ping, "last".
	pongs := make([]int, clients)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = func() error {
				_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
				br := bufio.NewReaderSize(c, 64<<10)
				for {
					f, err := ws.ReadFrame(br)
					if err != nil {
						return fmt.Errorf("after %d pongs: %w", pongs[i], err)
					}
					if f.Header.OpCode != ws.OpPong {
						return fmt.Errorf("a %v frame, want pongs", f.Header.OpCode)
					}
					pongs[i]++
					if string(f.Payload) == "last" {
						return nil
					}
				}
			}()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	closeAll(g, conns)
	after := g.rss()
	t.Logf("%d pings from each of %d clients reading nothing; pongs they got: %v", pings, clients, pongs)
	for i, n := range pongs {
		if n >= pings {
			t.Errorf("client %d got %d pongs for %d pings: nothing was coalesced (did its socket fill?)", i, n, pings)
		}
	}
	live := int64(clients * (connBytes + readerBytes + pongBytes))
	rssReport(t, fmt.Sprintf("%d clients flooding pings", clients), before, peak, after, rssAllowed(live))
}

// idTeller tells each client its id when it connects and echoes its
// messages.
type idTeller struct{ echo }

func (idTeller) OnConnect(c *worker.Context) error {
	return c.SendToCurrentClient([]byte(c.ClientID()))
}

// readText reads the next text message of a raw WebSocket client.
func readText(c net.Conn) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	b, err := wsutil.ReadServerText(c)
	return string(b), err
}

// TestRSSManyGroups is item 6's group attack: one client asks to join
// 100,000 groups (before the cap: +205 MiB and 100,000 NATS
// subscriptions). max_groups_per_client (1000 by default) lets 1,000 in
// and refuses the rest, each refusal answered: the gateway has the whole
// attack when the last answer arrived.
func TestRSSManyGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("a gateway process and 100,000 joins")
	}
	const (
		attempts  = 100_000
		maxGroups = 1000 // the default
		parallel  = 64
	)
	g, natsURL := startRSSAttack(t, idTeller{})
	api := sbtest.Client(t, natsURL)
	before := g.startPeak()
	conns := g.dialWS(1, 0)
	id, err := readText(conns[0])
	if err != nil {
		t.Fatal(err)
	}
	var (
		next, joined, refused atomic.Int64
		wg                    sync.WaitGroup
		errMu                 sync.Mutex
		errs                  []error
	)
	start := time.Now()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < attempts; i = next.Add(1) - 1 {
				err := api.JoinGroup(t.Context(), id, "g"+strconv.FormatInt(i, 10))
				switch {
				case err == nil:
					joined.Add(1)
				case errors.Is(err, bus.ErrRemote) && strings.Contains(err.Error(), "max_groups_per_client"):
					refused.Add(1)
				default:
					errMu.Lock()
					errs = append(errs, fmt.Errorf("join g%d: %w", i, err))
					errMu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	st := g.Stats()
	peak := g.peak()
	t.Logf("%d joins in %v: %d joined, %d refused (counted %d)", attempts, time.Since(start).Round(time.Millisecond), joined.Load(), refused.Load(), st.Refused["max_groups_per_client"])
	if joined.Load() != maxGroups || refused.Load() != attempts-maxGroups || st.Refused["max_groups_per_client"] != attempts-maxGroups {
		t.Errorf("joined %d and refused %d (counted %d), want %d and %d", joined.Load(), refused.Load(), st.Refused["max_groups_per_client"], maxGroups, attempts-maxGroups)
	}
	closeAll(g, conns)
	after := g.rss()
	live := int64(connBytes + readerBytes + maxGroups*groupBytes)
	rssReport(t, fmt.Sprintf("a client joining %d groups", attempts), before, peak, after, rssAllowed(live))
}

// sessionGrower sets the session a message asks for: "big" a 1 MiB one,
// "fit" one just under max_session_bytes; it echoes anything else.
type sessionGrower struct {
	idTeller
	fit int
}

func (s sessionGrower) OnMessage(c *worker.Context, m worker.Message) error {
	switch string(m.Data) {
	case "big":
		c.SetSession(bus.Session{"s": strings.Repeat("b", 1<<20)})
	case "fit":
		c.SetSession(bus.Session{"s": strings.Repeat("f", s.fit)})
	}
	return c.SendToCurrentClient(m.Data)
}

// TestRSSBigSession is item 6's session attack: each client's handler
// sets a 1 MiB session, which would ride on every event of the client;
// max_session_bytes (64 KiB by default) refuses it (counted), the
// largest session that fits is kept, and then the clients send messages,
// each event carrying that session to the worker. The gateway has the
// whole attack when every client got every echo.
func TestRSSBigSession(t *testing.T) {
	if testing.Short() {
		t.Skip("a gateway process")
	}
	const (
		clients         = 16
		messages        = 25
		maxSessionBytes = 64 << 10 // the default
	)
	g, _ := startRSSAttack(t, sessionGrower{fit: maxSessionBytes - 64})
	before := g.startPeak()
	conns := g.dialWS(clients, 0)
	// each sends the messages of one phase, reading every echo.
	each := func(msgs ...string) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, clients)
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, msg := range msgs {
					if errs[i] = wsutil.WriteClientText(c, []byte(msg)); errs[i] != nil {
						return
					}
					got, err := readText(c)
					if err == nil && got != msg {
						err = fmt.Errorf("echo %q, want %q", got, msg)
					}
					if errs[i] = err; err != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range conns {
		if _, err := readText(c); err != nil { // its id
			t.Fatal(err)
		}
	}
	msgs := []string{"fit"}
	for j := range messages {
		msgs = append(msgs, fmt.Sprintf("m%d", j))
	}
	each(msgs...)
	peakFit := g.peak()
	beforeBig := g.startPeak()
	each("big")
	peakBig := g.peak()
	if st := g.Stats(); st.Refused["max_session_bytes"] != clients {
		t.Errorf("refused max_session_bytes = %d, want %d", st.Refused["max_session_bytes"], clients)
	}
	closeAll(g, conns)
	after := g.rss()
	rssReport(t, fmt.Sprintf("%d clients with the biggest session, %d events each", clients, messages), before, peakFit, beforeBig,
		rssAllowed(int64(clients*(connBytes+readerBytes+maxSessionBytes))))
	rssReport(t, fmt.Sprintf("%d clients whose handler sets a 1 MiB session", clients), beforeBig, peakBig, after,
		rssAllowed(int64(clients*(connBytes+readerBytes+maxSessionBytes+replyBytes))))
}

// TestRSSSlowReader is item 6's slow reader: clients that read nothing
// while 64 KiB messages are sent to each of them. Each one's send queue
// grows to send_buffer_bytes (4 MiB by default), and then the client is
// closed as too slow (counted slow_client; on a slow machine the 10 s
// write deadline may close it first). The sends are paced by a
// client that reads: a marker sent to it after each round is read once
// the gateway has handled the round, so NATS never holds a backlog for
// the gateway. The gateway has the whole attack when every slow client
// has been closed.
func TestRSSSlowReader(t *testing.T) {
	if testing.Short() {
		t.Skip("a gateway process and 4 MiB queued per client")
	}
	const (
		clients         = 16
		size            = 64 << 10
		sendBufferBytes = 4 << 20 // the default
		perRound        = 4       // messages to each client per round
		maxRounds       = 200     // 50 MiB to each client
	)
	g, natsURL := startRSSAttack(t, idTeller{})
	api := sbtest.Client(t, natsURL)
	canary := g.dialWS(1, 0)
	canaryID, err := readText(canary[0])
	if err != nil {
		t.Fatal(err)
	}
	before := g.startPeak()
	conns := g.dialWS(clients, 4096)
	ids := make([]string, clients)
	for i, c := range conns {
		if ids[i], err = readText(c); err != nil {
			t.Fatal(err)
		}
	}
	msg := []byte(strings.Repeat("x", size))
	rounds := 0
	var st gateway.Stats
	for ; rounds < maxRounds; rounds++ {
		for range perRound {
			for _, id := range ids {
				if err := api.SendToClient(id, msg); err != nil {
					t.Fatal(err)
				}
			}
		}
		marker := "round " + strconv.Itoa(rounds)
		if err := api.SendToClient(canaryID, []byte(marker)); err != nil {
			t.Fatal(err)
		}
		if got, err := readText(canary[0]); err != nil || got != marker {
			t.Fatalf("canary read %q, %v; want %q", got, err, marker)
		}
		if st = g.Stats(); st.Connections == 1 { // the canary
			break
		}
	}
	peak := g.peak()
	t.Logf("%d rounds of %d × %d KiB to each client; most bytes queued for one client %d KiB; closed as slow: %d",
		rounds+1, perRound, size>>10, st.MaxQueuedBytes>>10, st.Refused["slow_client"])
	if st.Connections != 1 {
		t.Fatalf("%d of %d clients still open after %d rounds", st.Connections-1, clients, rounds)
	}
	if n := st.Refused["slow_client"]; n != clients {
		// The write deadline (10 s without progress) closes a client
		// too: on a loaded machine it can come first.
		t.Logf("%d clients were closed by the write deadline before their queue was full", clients-n)
	}
	closeAll(g, canary)
	after := g.rss()
	live := int64(clients * (connBytes + readerBytes + sendBufferBytes + (sendBufferBytes/size+1)*frameOverhead + size))
	rssReport(t, fmt.Sprintf("%d clients reading nothing", clients), before, peak, after, rssAllowed(live))
}
