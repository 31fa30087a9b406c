package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// recorder is a worker that tells each client its id, writes down every
// message of a client and hands the list over when the client's close
// event arrives: what the gateway read, in order, and nothing else.
type recorder struct {
	mu   sync.Mutex
	msgs map[string][]string
	done map[string]chan []string
}

func newRecorder() *recorder {
	return &recorder{msgs: map[string][]string{}, done: map[string]chan []string{}}
}

func (r *recorder) chLocked(remote string) chan []string {
	ch := r.done[remote]
	if ch == nil {
		ch = make(chan []string, 1)
		r.done[remote] = ch
	}
	return ch
}

func (r *recorder) OnConnect(c *worker.Context) error {
	return c.SendToCurrentClient([]byte(c.ClientID()))
}

func (r *recorder) OnMessage(c *worker.Context, m worker.Message) error {
	kind := "t:"
	if m.Binary {
		kind = "b:"
	}
	r.mu.Lock()
	r.msgs[c.ClientID()] = append(r.msgs[c.ClientID()], kind+string(m.Data))
	r.mu.Unlock()
	return nil
}

func (r *recorder) OnClose(c *worker.Context) error {
	r.mu.Lock()
	msgs := r.msgs[c.ClientID()]
	delete(r.msgs, c.ClientID())
	ch := r.chLocked(c.ClientID())
	r.mu.Unlock()
	ch <- msgs
	return nil
}

// result waits for the close event of the client id and returns
// the messages the worker got from it.
func (r *recorder) result(id string) ([]string, error) {
	r.mu.Lock()
	ch := r.chLocked(id)
	r.mu.Unlock()
	select {
	case msgs := <-ch:
		r.mu.Lock()
		delete(r.done, id)
		r.mu.Unlock()
		return msgs, nil
	case <-time.After(20 * time.Second):
		return nil, fmt.Errorf("no close event for %s", id)
	}
}

// splitCase is a byte stream a client sends and what it must lead to: the
// messages the worker gets and, on WebSocket, the frames the gateway
// answers with (pongs, then its close frame).
type splitCase struct {
	name   string
	stream []byte
	starts []int // where each frame or message starts in stream
	msgs   []string
	server []string
}

var splitMasks = [][4]byte{{0, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff}, {1, 2, 3, 4}, {0xde, 0xad, 0xbe, 0xef}}

// wsStream encodes client frames, each masked with the next key of
// splitMasks.
func wsStream(frames ...ws.Frame) ([]byte, []int) {
	var b bytes.Buffer
	var starts []int
	for i, f := range frames {
		starts = append(starts, b.Len())
		_ = ws.WriteFrame(&b, ws.MaskFrameWith(f, splitMasks[i%len(splitMasks)]))
	}
	return b.Bytes(), starts
}

func wsCase(name string, msgs, server []string, frames ...ws.Frame) splitCase {
	s, starts := wsStream(frames...)
	return splitCase{name: name, stream: s, starts: starts, msgs: msgs, server: server}
}

func textFrag(fin bool, s string) ws.Frame { return ws.NewFrame(ws.OpText, fin, []byte(s)) }
func binFrag(fin bool, b []byte) ws.Frame  { return ws.NewFrame(ws.OpBinary, fin, b) }
func cont(fin bool, s string) ws.Frame     { return ws.NewFrame(ws.OpContinuation, fin, []byte(s)) }
func closeWith(code ws.StatusCode, reason string) ws.Frame {
	return ws.NewCloseFrame(ws.NewCloseFrameBody(code, reason))
}

// wsSplitCases are the RFC 6455 fragmentation cases. Each ends with a
// close frame or a protocol error, so the gateway answers with a close
// frame after everything it had to answer before.
func wsSplitCases() []splitCase {
	bye := closeWith(ws.StatusNormalClosure, "bye")
	closed := []string{"close:1000"}
	x300 := strings.Repeat("x", 300)
	big := bytes.Repeat([]byte("0123456789abcdef"), 4097) // 65,552 bytes: a 64-bit length
	return []splitCase{
		wsCase("single text frame", []string{"t:hello"}, closed, textFrag(true, "hello"), bye),
		wsCase("single empty binary frame", []string{"b:"}, closed, binFrag(true, nil), bye),
		wsCase("two text fragments", []string{"t:fragmented"}, closed, textFrag(false, "frag"), cont(true, "mented"), bye),
		wsCase("three binary fragments", []string{"b:\x00\x01\x02\x03\xff"}, closed,
			binFrag(false, []byte{0, 1}), cont(false, "\x02"), cont(true, "\x03\xff"), bye),
		wsCase("empty fragments", []string{"t:x"}, closed, textFrag(false, ""), cont(false, ""), cont(true, "x"), bye),
		wsCase("ping and pong between fragments", []string{"t:fragmented"}, []string{"pong:between", "close:1000"},
			textFrag(false, "frag"), ws.NewPingFrame([]byte("between")), cont(false, "men"),
			ws.NewPongFrame([]byte("unsolicited")), cont(true, "ted"), bye),
		wsCase("UTF-8 character split across fragments", []string{"t:héllo"}, closed,
			textFrag(false, "h\xc3"), cont(true, "\xa9llo"), bye),
		wsCase("messages and pings back to back", []string{"t:a", "b:b", "t:c"}, []string{"pong:1", "pong:2", "close:1000"},
			textFrag(true, "a"), ws.NewPingFrame([]byte("1")), binFrag(true, []byte("b")), ws.NewPingFrame([]byte("2")), textFrag(true, "c"), bye),
		wsCase("16-bit length", []string{"t:" + x300}, closed, textFrag(true, x300), bye),
		wsCase("16-bit length fragments", []string{"b:" + x300}, closed, binFrag(false, []byte(x300[:174])), cont(true, x300[174:]), bye),
		wsCase("64-bit length", []string{"b:" + string(big)}, closed, binFrag(true, big), bye),
		wsCase("64-bit length fragment after a ping", []string{"t:ab" + string(big)}, []string{"pong:", "close:1000"},
			textFrag(false, "ab"), ws.NewPingFrame(nil), cont(true, string(big)), bye),
		wsCase("close after fragments", []string{"t:abcd"}, []string{"close:1001"},
			textFrag(false, "ab"), cont(true, "cd"), closeWith(ws.StatusGoingAway, "going")),
		wsCase("close without a body", []string{"t:a"}, []string{"close:none"}, textFrag(true, "a"), ws.NewCloseFrame(nil)),
		wsCase("continuation without a message", []string{"t:ok"}, []string{"close:1002"}, textFrag(true, "ok"), cont(true, "x")),
		wsCase("new message inside a fragmented one", nil, []string{"close:1002"}, textFrag(false, "a"), textFrag(true, "b")),
		wsCase("invalid UTF-8 across fragments", nil, []string{"close:1007"}, textFrag(false, "\xc3"), cont(true, "(")),
	}
}

// tcpSplitCases are byte streams of the TCP transports; the client closes
// its side after them.
func tcpSplitCases(t string) []splitCase {
	x700 := strings.Repeat("x", 700)
	if t == "tcp+text" {
		return []splitCase{
			{name: "one line", stream: []byte("hello\n"), msgs: []string{"t:hello"}},
			{name: "CRLF and empty lines", stream: []byte("a\r\n\nb\n"), starts: []int{0, 3, 4}, msgs: []string{"t:a", "t:", "t:b"}},
			{name: "line longer than the read buffer", stream: []byte(x700 + "\nz\n"), starts: []int{0, 701}, msgs: []string{"t:" + x700, "t:z"}},
			{name: "unfinished last line", stream: []byte("a\nb"), starts: []int{0, 2}, msgs: []string{"t:a"}},
		}
	}
	frame := func(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }
	big := strings.Repeat("0123456789", 7000)
	return []splitCase{
		{name: "frames of 0, 5 and 700 bytes", stream: slices.Concat(frame(""), frame("hello"), frame(x700)), starts: []int{0, 4, 13},
			msgs: []string{"t:", "t:hello", "t:" + x700}},
		{name: "frame of 70,000 bytes", stream: frame(big), msgs: []string{"t:" + big}},
		{name: "unfinished last frame", stream: slices.Concat(frame("ok"), frame("abcdefghij")[:9]), starts: []int{0, 6}, msgs: []string{"t:ok"}},
	}
}

// splits lists how each case's stream is cut into writes: one write, cut
// once at every byte boundary, and byte by byte. A stream longer than
// 1 KiB is cut at every boundary within 64 bytes of its start, its end and
// each frame start, and in 4 KiB pieces (the boundaries inside a long
// payload are alike).
func splits(sc splitCase) [][]int {
	l := len(sc.stream)
	out := [][]int{nil}
	if l <= 1024 {
		for k := 1; k < l; k++ {
			out = append(out, []int{k})
		}
		all := make([]int, 0, l)
		for k := 1; k < l; k++ {
			all = append(all, k)
		}
		return append(out, all)
	}
	ks := map[int]bool{}
	for _, s := range append([]int{0, l - 64}, sc.starts...) {
		for k := s - 64; k <= s+64; k++ {
			if k > 0 && k < l {
				ks[k] = true
			}
		}
	}
	for k := range ks {
		out = append(out, []int{k})
	}
	var pieces []int
	for k := 4096; k < l; k += 4096 {
		pieces = append(pieces, k)
	}
	return append(out, pieces)
}

// readerMode is one of the gateway's client readers.
type readerMode struct {
	name string
	ws   bool
	g    *gateway.Gateway
	dial func() (net.Conn, error)
}

// TestEveryReaderGivesTheSameMessagesHoweverReadsSplit delivers every
// fragmentation case to every reader (netpoll ws://, the reader goroutine
// of Netpoll(false), wss://, tcp+text://, tcp+frame://) in one write, cut
// at every byte boundary and byte by byte, each write in a read of its own
// (the test waits until the gateway has read a write before the next),
// and checks the messages the worker got and the gateway's answers (pongs
// and close code) are the expected ones every time.
func TestEveryReaderGivesTheSameMessagesHoweverReadsSplit(t *testing.T) {
	ns := sbtest.NATS(t)
	rec := newRecorder()
	sbtest.Worker(t, ns.ClientURL(), rec)
	certFile, keyFile := sbtest.WriteCert(t, t.TempDir(), 1)
	g := sbtest.Gateway(t, ns.ClientURL(),
		gateway.Listen("ws://127.0.0.1:0", "wss://127.0.0.1:0", "tcp+text://127.0.0.1:0", "tcp+frame://127.0.0.1:0"),
		gateway.TLSFiles(certFile, keyFile))
	blocking := sbtest.Gateway(t, ns.ClientURL(), gateway.Netpoll(false))
	dialWS := func(url string) func() (net.Conn, error) {
		return func() (net.Conn, error) {
			d := ws.Dialer{TLSConfig: &tls.Config{InsecureSkipVerify: true}, Timeout: 5 * time.Second} // self-signed test certificate
			return sbtest.DialWith(context.Background(), d, url)
		}
	}
	dialTCP := func(addr string) func() (net.Conn, error) {
		return func() (net.Conn, error) { return net.Dial("tcp", addr) }
	}
	modes := []readerMode{
		{"netpoll ws", true, g, dialWS("ws://" + hostOf(t, g, "ws") + "/")},
		{"reader goroutine ws", true, blocking, dialWS("ws://" + blocking.Addr().String() + "/")},
		{"wss", true, g, dialWS("wss://" + hostOf(t, g, "wss") + "/")},
		{"tcp+text", false, g, dialTCP(hostOf(t, g, "tcp+text"))},
		{"tcp+frame", false, g, dialTCP(hostOf(t, g, "tcp+frame"))},
	}
	total := 0
	for _, m := range modes {
		cases := wsSplitCases()
		if !m.ws {
			cases = tcpSplitCases(m.name)
		}
		t.Run(m.name, func(t *testing.T) {
			var wg sync.WaitGroup
			sem := make(chan struct{}, 8)
			for _, sc := range cases {
				for _, cuts := range splits(sc) {
					total++
					wg.Add(1)
					sem <- struct{}{}
					go func() {
						defer func() { <-sem; wg.Done() }()
						if err := deliver(m, rec, sc, cuts); err != nil {
							t.Errorf("%s, cut at %s: %v", sc.name, cutsString(cuts), err)
						}
					}()
				}
			}
			wg.Wait()
		})
	}
	t.Logf("%d deliveries", total)
}

func cutsString(cuts []int) string {
	if len(cuts) > 8 {
		return fmt.Sprintf("%d places (%d, %d, ...)", len(cuts), cuts[0], cuts[1])
	}
	if len(cuts) == 0 {
		return "nowhere (one write)"
	}
	return fmt.Sprint(cuts)
}

// deliver sends sc's stream cut at cuts over a new connection and checks
// what the worker got and the gateway answered.
func deliver(m readerMode, rec *recorder, sc splitCase, cuts []int) error {
	c, err := m.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	id, err := readID(c, m)
	if err != nil {
		return fmt.Errorf("the client's id: %w", err)
	}
	prev := 0
	for i, cut := range append(slices.Clone(cuts), len(sc.stream)) {
		if _, err := c.Write(sc.stream[prev:cut]); err != nil {
			break // the gateway closed the connection: its answer says why
		}
		prev = cut
		if i == len(cuts) {
			break
		}
		// The barrier: the gateway has read this write (or closed the
		// connection) before the next is written.
		if err := waitUntil(func() bool { n, ok := gateway.UnreadBytes(m.g, id); return !ok || n == 0 }); err != nil {
			return fmt.Errorf("the gateway never read the write: %w", err)
		}
	}
	var server []string
	if m.ws {
		if server, err = readAnswers(c); err != nil {
			return err
		}
	} else if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	msgs, err := rec.result(id)
	if err != nil {
		return err
	}
	if !slices.Equal(msgs, sc.msgs) || !answeredAsExpected(server, sc.server) {
		return fmt.Errorf("worker got %s, gateway answered %v; want %s and %v", short(msgs), server, short(sc.msgs), sc.server)
	}
	return nil
}

// answeredAsExpected compares the gateway's answers with the expected
// ones, allowing what pong coalescing does: a pong still queued when the
// next ping arrives is replaced by that ping's (only the latest ping needs
// an answer), so of a run of expected pongs the last must come and earlier
// ones may be missing. Everything else must match exactly, in order.
func answeredAsExpected(got, want []string) bool {
	i := 0
	for j, w := range want {
		if i < len(got) && got[i] == w {
			i++
			continue
		}
		lastOfPongs := j+1 == len(want) || !strings.HasPrefix(want[j+1], "pong:")
		if !strings.HasPrefix(w, "pong:") || lastOfPongs {
			return false
		}
	}
	return i == len(got)
}

// readID reads the first message, the client id the recorder sends from
// OnConnect.
func readID(c net.Conn, m readerMode) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	var b []byte
	var err error
	switch {
	case m.ws:
		b, err = wsutil.ReadServerText(c)
	case m.name == "tcp+text":
		// One byte at a time: a buffered reader could swallow what
		// follows.
		for one := make([]byte, 1); err == nil; {
			if _, err = io.ReadFull(c, one); err == nil && one[0] == '\n' {
				break
			}
			b = append(b, one...)
		}
	default:
		var hdr [4]byte
		if _, err = io.ReadFull(c, hdr[:]); err == nil {
			b = make([]byte, binary.BigEndian.Uint32(hdr[:]))
			_, err = io.ReadFull(c, b)
		}
	}
	return string(b), err
}

// readAnswers reads the gateway's frames up to its close frame.
func readAnswers(c net.Conn) ([]string, error) {
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var out []string
	for {
		f, err := ws.ReadFrame(c)
		if err != nil {
			return out, fmt.Errorf("after %v: %w", out, err)
		}
		switch f.Header.OpCode {
		case ws.OpPong:
			out = append(out, "pong:"+string(f.Payload))
		case ws.OpClose:
			if len(f.Payload) < 2 {
				return append(out, "close:none"), nil
			}
			return append(out, "close:"+strconv.Itoa(int(binary.BigEndian.Uint16(f.Payload)))), nil
		default:
			out = append(out, fmt.Sprintf("frame %v: %q", f.Header.OpCode, f.Payload))
		}
	}
}

func short(msgs []string) string {
	var b strings.Builder
	b.WriteString("[")
	for i, m := range msgs {
		if i > 0 {
			b.WriteString(" ")
		}
		if len(m) > 40 {
			m = fmt.Sprintf("%s…(%d bytes)", m[:40], len(m))
		}
		b.WriteString(strconv.Quote(m))
	}
	return b.String() + "]"
}

// waitUntil polls cond (a condition on the gateway's socket, which has no
// event to wait on) until it holds, for at most 20 s.
func waitUntil(cond func() bool) error {
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out")
		}
		time.Sleep(20 * time.Microsecond)
	}
	return nil
}
