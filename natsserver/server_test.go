package natsserver_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/natsserver"
)

// TestEmbeddedServerCutsFrozenClient: a client that stops answering the
// server's pings (a frozen process) is disconnected within about
// (MaxPingsOut+2) × PingInterval, losing its subscriptions; the defaults
// are seconds, not nats-server's minutes.
func TestEmbeddedServerCutsFrozenClient(t *testing.T) {
	const interval = 200 * time.Millisecond
	s, err := natsserver.Start(natsserver.Config{Port: -1, PingInterval: interval, MaxPingsOut: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	base := s.NumSubscriptions() // the server's own
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil { // INFO
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Write([]byte("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB sb.ev.message workers 1\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var lines []string
	for { // read what the server sends, never answer a PING: frozen
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		lines = append(lines, strings.TrimSpace(line))
	}
	took := time.Since(start)
	t.Logf("frozen client cut after %v; server sent %q", took.Round(time.Millisecond), lines)
	// The cut is counted in pings, not timed (a loaded machine delays the
	// server's timer): the server gives up after MaxPingsOut unanswered
	// pings, and the read deadline (10 s) is far below nats-server's
	// default of 2 minutes × 2.
	pings := 0
	for _, l := range lines {
		if l == "PING" {
			pings++
		}
	}
	if pings == 0 || pings > 3 {
		t.Errorf("the server sent %d pings before the cut, want 1 to MaxPingsOut+1 = 3", pings)
	}
	if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "Stale Connection") {
		t.Errorf("last line %q, want a Stale Connection error", lines)
	}
	for wait := time.Now().Add(5 * time.Second); s.NumSubscriptions() != base; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(wait) { // the server removes them as it closes the connection
			t.Fatalf("%d subscriptions, want the server's own %d: the frozen client's is left", s.NumSubscriptions(), base)
		}
	}

	d, err := natsserver.Start(natsserver.Config{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	o, err := d.Varz(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.PingInterval != natsserver.DefaultPingInterval || o.MaxPingsOut != natsserver.DefaultMaxPingsOut || o.WriteDeadline != natsserver.DefaultWriteDeadline {
		t.Errorf("defaults: ping %v × %d, write deadline %v", o.PingInterval, o.MaxPingsOut, o.WriteDeadline)
	}
}
