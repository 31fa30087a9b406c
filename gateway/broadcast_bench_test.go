package gateway_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// BenchmarkBroadcastSlowReader streams 64-byte group messages to 200
// members, with and without one member that never reads, and reports the
// deliveries per second the others get. The slow member is cut off at
// send_buffer_bytes; the others' rate should not change.
func BenchmarkBroadcastSlowReader(b *testing.B) {
	for _, slow := range []bool{false, true} {
		name := "without-slow-reader"
		if slow {
			name = "with-slow-reader"
		}
		b.Run(name, func(b *testing.B) { benchBroadcast(b, 200, slow) })
	}
}

func benchBroadcast(b *testing.B, members int, slow bool) {
	ns := sbtest.NATS(b)
	g := sbtest.Gateway(b, ns.ClientURL(), gateway.SendBufferBytes(256<<10))
	sbtest.Worker(b, ns.ClientURL(), &closeCounter{closed: map[string]int{}})
	api := sbtest.Client(b, ns.ClientURL())
	if slow {
		c, err := sbtest.DialErr(g, "/")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
	}
	conns := make([]net.Conn, members)
	for i := range conns {
		c, err := sbtest.DialErr(g, "/")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if _, err := wsutil.ReadServerText(c); err != nil { // joined
			b.Fatal(err)
		}
		conns[i] = c
	}
	payload := make([]byte, 64)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			for range b.N {
				if _, err := wsutil.ReadServerText(c); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	for range b.N {
		if err := api.SendToGroup("stream", payload); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N*members)/elapsed.Seconds(), "deliveries/s")
}
