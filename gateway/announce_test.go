package gateway_test

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// TestAnnouncedMessagesCostWhatArrived: on every transport, 1,000 clients
// each sending a header that announces 1 MiB and then one byte raise the
// gateway's heap by far less than 30 MiB (the buffer grows with what
// arrived, not with what was announced; before, 1,000 such clients cost
// about 1 GiB), and each of those messages is closed after
// message_read_timeout (WebSocket 1008, TCP closed), counted as
// message_read_timeout.
func TestAnnouncedMessagesCostWhatArrived(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 sockets per transport")
	}
	const (
		sockets = 1000
		timeout = 3 * time.Second
		limit   = 30 << 20
	)
	ns := sbtest.NATS(t)
	sbtest.Worker(t, ns.ClientURL(), echo{})
	certFile, keyFile := sbtest.WriteCert(t, t.TempDir(), 1)
	g := sbtest.Gateway(t, ns.ClientURL(),
		gateway.Listen("ws://127.0.0.1:0", "wss://127.0.0.1:0", "tcp+frame://127.0.0.1:0"),
		gateway.TLSFiles(certFile, keyFile), gateway.Compression(true), gateway.MessageReadTimeout(timeout))
	blocking := sbtest.Gateway(t, ns.ClientURL(), gateway.Netpoll(false), gateway.MessageReadTimeout(timeout))

	// A masked binary frame header announcing 1 MiB (64-bit length), then
	// one byte; RSV1 marks it compressed for the deflate client.
	wsHeader := func(rsv1 bool) []byte {
		b0 := byte(0x82)
		if rsv1 {
			b0 |= 0x40
		}
		return append(binary.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, 1<<20), 1, 2, 3, 4, 'x')
	}
	dialWS := func(url string, deflate bool) func() (net.Conn, error) {
		return func() (net.Conn, error) {
			d := ws.Dialer{TLSConfig: &tls.Config{InsecureSkipVerify: true}, Timeout: 10 * time.Second} // self-signed test certificate
			if deflate {
				params := wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
				d.Extensions = []httphead.Option{params.Option()}
			}
			c, hs, err := sbtest.DialHandshake(t.Context(), d, url)
			if err == nil && deflate && len(hs.Extensions) == 0 {
				c.Close()
				return nil, fmt.Errorf("permessage-deflate not accepted")
			}
			return c, err
		}
	}
	modes := []struct {
		name   string
		g      *gateway.Gateway
		ws     bool
		dial   func() (net.Conn, error)
		header []byte
	}{
		{"ws (netpoll)", g, true, dialWS("ws://"+hostOf(t, g, "ws")+"/", false), wsHeader(false)},
		{"ws (reader goroutine)", blocking, true, dialWS("ws://"+blocking.Addr().String()+"/", false), wsHeader(false)},
		{"wss", g, true, dialWS("wss://"+hostOf(t, g, "wss")+"/", false), wsHeader(false)},
		{"ws with permessage-deflate", g, true, dialWS("ws://"+hostOf(t, g, "ws")+"/", true), wsHeader(true)},
		{"tcp+frame", g, false, func() (net.Conn, error) { return net.Dial("tcp", hostOf(t, g, "tcp+frame")) },
			append(binary.BigEndian.AppendUint32(nil, 1<<20), 'x')},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			before := m.g.Stats().Refused["message_read_timeout"]
			conns := make([]net.Conn, sockets)
			var wg sync.WaitGroup
			errs := make(chan error, sockets)
			sem := make(chan struct{}, 32)
			for i := range conns {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					c, err := m.dial()
					if err != nil {
						errs <- err
						return
					}
					conns[i] = c
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("dial: %v", err)
			}
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			connected := 0
			sbtest.Eventually(t, 30*time.Second, "every client registered", func() bool {
				connected = m.g.ConnectionCount()
				return connected >= sockets
			})
			heap0, rss0 := heapInuse(), rss()
			for _, c := range conns {
				if _, err := c.Write(m.header); err != nil {
					t.Fatal(err)
				}
			}
			// Every client's message has begun: its first byte was parsed
			// and its buffer made.
			sbtest.Eventually(t, 30*time.Second, "every announced message read", func() bool { return gateway.BegunMessages(m.g) == sockets })
			heap1, rss1 := heapInuse(), rss()
			if closed := m.g.Stats().Refused["message_read_timeout"] - before; closed != 0 {
				t.Fatalf("%d clients closed before the measure: the test was too slow for its %v timeout", closed, timeout)
			}
			t.Logf("%d clients announcing 1 MiB and sending 1 byte: heap in use %+.1f MiB, RSS %+.1f MiB",
				sockets, float64(int64(heap1)-int64(heap0))/(1<<20), float64(rss1-rss0)/(1<<20))
			if grew := int64(heap1) - int64(heap0); grew >= limit {
				t.Errorf("heap in use grew by %d bytes, over %d", grew, limit)
			}
			sbtest.Eventually(t, timeout+30*time.Second, "every incomplete message closed", func() bool {
				return m.g.Stats().Refused["message_read_timeout"]-before == sockets
			})
			for i, c := range conns {
				if err := expectClosedFor(c, m.ws); err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
			}
		})
	}
}

// expectClosedFor reads until the connection ends: a WebSocket client
// must get close 1008 first.
func expectClosedFor(c net.Conn, isWS bool) error {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if !isWS {
		if _, err := io.Copy(io.Discard, c); err != nil {
			return fmt.Errorf("want EOF, got %w", err)
		}
		return nil
	}
	for {
		f, err := ws.ReadFrame(c)
		if err != nil {
			return fmt.Errorf("want close 1008, got %w", err)
		}
		if f.Header.OpCode == ws.OpClose {
			if code, _ := ws.ParseCloseFrameData(f.Payload); code != ws.StatusPolicyViolation {
				return fmt.Errorf("close %d, want 1008", code)
			}
			return nil
		}
	}
}

// heapInuse is the heap in use after two collections (the second empties
// what sync.Pools kept from the first).
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// rss is the process's resident set in bytes (0 where /proc is missing).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
