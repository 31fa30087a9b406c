package gateway_test

import (
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// TestHalfOpenHandshakes opens 10,000 connections (in waves, to stay under
// the machine's 20,000 open files for client and gateway sockets together)
// that send half a request and stall. Each is dropped at the handshake
// timeout, no goroutine is left behind, and a real client is served all
// along.
func TestHalfOpenHandshakes(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 sockets")
	}
	const waves, perWave = 5, 2000
	g := start(t, gateway.HandshakeTimeout(300*time.Millisecond))
	good := sbtest.Dial(t, g, "/")
	good.Send("before")
	good.Expect("before")
	baseline := runtime.NumGoroutine()

	for w := range waves {
		conns := make([]net.Conn, 0, perWave)
		for range perWave {
			c, err := net.Dial("tcp", g.Addr().String())
			if err != nil {
				t.Fatalf("wave %d: dial: %v", w, err)
			}
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: webs")
			conns = append(conns, c)
		}
		good.Send("during")
		good.Expect("during")
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				// EOF or a reset (the gateway closed with our bytes
				// unread): either way it dropped the socket.
				if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("half-open connection not dropped by the gateway: %v", err)
				}
			}()
		}
		wg.Wait()
	}
	if g.ConnectionCount() != 1 {
		t.Fatalf("connections = %d, want 1", g.ConnectionCount())
	}
	sbtest.Eventually(t, 5*time.Second, "handshake goroutines to end", func() bool {
		return runtime.NumGoroutine() <= baseline+5
	})
	good.Send("after")
	good.Expect("after")
}
