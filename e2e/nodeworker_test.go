package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/examples/chat"
	"github.com/switchboard-go/switchboard/examples/chat/chattest"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// The JavaScript chat worker (examples/node-worker), written from
// docs/protocol.md alone, against real gateways. Without Node.js and npm
// the tests skip, except in CI (CI=true) or with SB_REQUIRE_NODE set,
// where they fail.

const nodeReadyLine = "node worker: ready"

// nodeWorker is a running `node worker.mjs`.
type nodeWorker struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited
	err    error         // cmd.Wait's result, set before exited is closed

	mu     sync.Mutex
	stderr strings.Builder
	ready  chan struct{} // closed when the ready line was printed
	once   sync.Once
}

// Write collects the worker's stderr and notices the ready line.
func (w *nodeWorker) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stderr.Write(p)
	if strings.Contains(w.stderr.String(), nodeReadyLine) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

// Log returns what the worker wrote to stderr so far.
func (w *nodeWorker) Log() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stderr.String()
}

var npmInstall sync.Mutex

// nodeWorkerDir returns examples/node-worker with its dependencies
// installed (npm ci when node_modules is missing).
func nodeWorkerDir(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			sbtest.MissingTool(t, "SB_REQUIRE_NODE", "Node.js", "install Node.js 20 or later with npm (the test runs npm ci in examples/node-worker)", err)
		}
	}
	dir, err := filepath.Abs(filepath.Join("..", "examples", "node-worker"))
	if err != nil {
		t.Fatal(err)
	}
	npmInstall.Lock()
	defer npmInstall.Unlock()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "nats", "package.json")); err == nil {
		return dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	npm := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	npm.Dir = dir
	if out, err := npm.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir
}

// startNodeWorker runs `node worker.mjs` against the NATS server at url and
// waits until its subscriptions reached the server. It is killed at cleanup;
// its stderr is logged when the test failed.
func startNodeWorker(t *testing.T, url string, env ...string) *nodeWorker {
	t.Helper()
	dir := nodeWorkerDir(t)
	w := &nodeWorker{exited: make(chan struct{}), ready: make(chan struct{})}
	w.cmd = exec.Command("node", "worker.mjs")
	w.cmd.Dir = dir
	w.cmd.Env = append(append(os.Environ(), "NATS_URL="+url), env...)
	w.cmd.Stdout = w
	w.cmd.Stderr = w
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start node worker.mjs: %v", err)
	}
	go func() {
		w.err = w.cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() { // runs after the kill below
		if t.Failed() {
			t.Logf("node worker stderr:\n%s", w.Log())
		}
	})
	t.Cleanup(func() {
		select {
		case <-w.exited:
			return
		default:
		}
		_ = w.cmd.Process.Kill()
		select {
		case <-w.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("node worker (pid %d) did not exit after kill", w.cmd.Process.Pid)
		}
	})
	select {
	case <-w.ready:
	case <-w.exited:
		t.Fatalf("node worker exited before it was ready (%v):\n%s", w.err, w.Log())
	case <-time.After(20 * time.Second):
		t.Fatalf("node worker not ready after 20 s:\n%s", w.Log())
	}
	return w
}

// stop sends SIGTERM and expects a drained, clean exit.
func (w *nodeWorker) stop(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-w.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("node worker still running 10 s after SIGTERM:\n%s", w.Log())
	}
	if w.err != nil {
		t.Fatalf("node worker after SIGTERM: %v\n%s", w.err, w.Log())
	}
	if log := w.Log(); !strings.Contains(log, "draining") || !strings.Contains(log, "stopped") {
		t.Fatalf("node worker did not drain:\n%s", log)
	}
}

// TestNodeWorkerChat runs the chat scenario of examples/chat/chat_test.go
// with the JavaScript worker instead of the Go one: errors before login,
// welcome listing the room's users, join notice, say to the room, room
// switch (leave + welcome), leave on close. Then SIGTERM drains it.
func TestNodeWorkerChat(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	w := startNodeWorker(t, ns.ClientURL())
	chattest.Scenario(t, g)
	w.stop(t)
}

// chatReplies sends each input from a fresh client, not logged in, and
// returns the raw replies ("" for none). After each input it sends a frame
// of an unknown type, whose error reply marks the end of the input's
// replies: a client's replies come in order, so no waiting window is
// needed to tell that an input got none.
func chatReplies(t *testing.T, g *gateway.Gateway, inputs []string) []string {
	t.Helper()
	c := chattest.Dial(t, g)
	const marker = `{"type":"end-of-replies"}`
	var out []string
	for _, in := range inputs {
		c.WS.Send(in)
		c.WS.Send(marker)
		var got []string
		for {
			s, err := c.WS.ReadErr(10 * time.Second)
			if err != nil {
				t.Fatalf("reply to %s: %v", in, err)
			}
			var f chat.Frame
			if json.Unmarshal([]byte(s), &f) == nil && f.Type == "error" && f.Message == `unknown type "end-of-replies"` {
				break
			}
			got = append(got, s)
		}
		out = append(out, strings.Join(got, "\n"))
	}
	return out
}

// TestNodeWorkerSameRepliesAsGo sends malformed and invalid frames to the
// Go chat worker and to the Node one (with a non-default SB_PREFIX) and
// expects byte-identical replies.
func TestNodeWorkerSameRepliesAsGo(t *testing.T) {
	long := strings.Repeat("é", 17) // 17 characters, 34 bytes: too long a name
	inputs := []string{
		`not json`,
		`null`,
		`"a string"`,
		`[1]`,
		`{"type":5}`,
		`{"type":"login","name":7}`,
		`{"type":"dance"}`,
		`{}`,
		`{"TYPE":"say","text":"x"}`,
		`{"type":"room","room":"kitchen"}`,
		`{"type":"pong"}`,
		`{"type":"login","name":"  \t "}`,
		`{"type":"login","name":"` + long + `"}`,
		`{"type":"say","text":"still not logged in"}`,
	}
	const prefix = "chat.test"
	ns := sbtest.NATS(t)
	goGW := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), chat.Events{})
	want := chatReplies(t, goGW, inputs)

	startNodeWorker(t, ns.ClientURL(), "SB_PREFIX="+prefix) // before the gateway: killed after its shutdown
	nodeGW := sbtest.Gateway(t, ns.ClientURL(), gateway.Prefix(prefix))
	got := chatReplies(t, nodeGW, inputs)

	if want[0] != `{"type":"error","message":"malformed message"}` || want[10] != "" {
		t.Fatalf("the Go worker's replies changed: %q", want)
	}
	for i := range inputs {
		if got[i] != want[i] {
			t.Errorf("%s: node %q, go %q", inputs[i], got[i], want[i])
		}
	}
}

// TestNodeWorkerAcrossGateways: two gateways, a room whose name is not a
// plain token, a welcome that needs both gateways' answers (scatter-gather),
// say truncated at 2000 bytes as chat.go does, the session the worker
// stored, and the leave notice across gateways.
func TestNodeWorkerAcrossGateways(t *testing.T) {
	ns := sbtest.NATS(t)
	startNodeWorker(t, ns.ClientURL()) // before the gateways: killed after their shutdown
	g1 := sbtest.Gateway(t, ns.ClientURL())
	g2 := sbtest.Gateway(t, ns.ClientURL())
	api := sbtest.Client(t, ns.ClientURL())
	sbtest.Eventually(t, 5*time.Second, "both gateways answering queries", func() bool {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		gws, err := api.Gateways(c)
		return err == nil && len(gws) == 2
	})

	const room = "Zoë's room 1.*" // token ~…: the doc's encoding, or no one hears
	alice, bob := chattest.Dial(t, g1), chattest.Dial(t, g2)
	alice.Send(chat.Frame{Type: "login", Name: " alice ", Room: room})
	wa := alice.Next("welcome")
	if wa.Name != "alice" || wa.Room != room || len(wa.Users) != 1 || wa.ClientID == "" {
		t.Fatalf("alice's welcome = %+v", wa)
	}
	bob.Send(chat.Frame{Type: "login", Name: "bob", Room: room})
	wb := bob.Next("welcome")
	names := []string{}
	for _, u := range wb.Users {
		names = append(names, u.Name+"="+u.ClientID)
	}
	if want := []string{"alice=" + wa.ClientID, "bob=" + wb.ClientID}; !slices.Equal(names, want) {
		t.Fatalf("bob's welcome lists %v, want %v (sorted, from both gateways)", names, want)
	}
	if j := alice.Next("join"); j.Name != "bob" || j.ClientID != wb.ClientID || j.Room != room || j.Time.IsZero() {
		t.Fatalf("join = %+v", j)
	}

	sessions, err := api.ClientSessionsByGroup(ctx(t), room)
	if err != nil {
		t.Fatal(err)
	}
	if s := sessions[wb.ClientID]; s["name"] != "bob" || s["room"] != room || len(sessions) != 2 {
		t.Fatalf("sessions = %v", sessions)
	}

	text := "a" + strings.Repeat("é", 1000) // 2001 bytes: cut inside the last é
	bob.Send(chat.Frame{Type: "say", Text: text})
	want := "a" + strings.Repeat("é", 999) + "\uFFFD"
	for _, c := range []chattest.Client{alice, bob} {
		if s := c.Next("say"); s.Text != want || s.Name != "bob" || s.Room != room || s.ClientID != wb.ClientID {
			t.Fatalf("say = %d bytes from %q in %q", len(s.Text), s.Name, s.Room)
		}
	}

	bob.Send(chat.Frame{Type: "room", Room: "  "}) // blank: back to the lobby
	if l := alice.Next("leave"); l.Name != "bob" || l.Room != room {
		t.Fatalf("leave = %+v", l)
	}
	if w := bob.Next("welcome"); w.Room != "lobby" || len(w.Users) != 1 {
		t.Fatalf("lobby welcome = %+v", w)
	}
	alice.Send(chat.Frame{Type: "room", Room: "lobby"})
	alice.Next("welcome")
	if j := bob.Next("join"); j.Name != "alice" {
		t.Fatalf("join = %+v", j)
	}
	_ = alice.WS.Conn.Close()
	if l := bob.Next("leave"); l.Name != "alice" || l.Room != "lobby" || l.ClientID != wa.ClientID {
		t.Fatalf("leave after close = %+v", l)
	}
}

// TestNodeWorkerDrainsOnSIGTERM plays a gateway on the bus: an event is in
// the worker's hands (its join command waits for our answer) when SIGTERM
// arrives. The worker must leave the queue group, finish the event, answer
// it with the frames and session patch of docs/protocol.md §5.2, and exit 0.
func TestNodeWorkerDrainsOnSIGTERM(t *testing.T) {
	ns := sbtest.NATS(t)
	nc := sbtest.Conn(t, ns.ClientURL())
	const gw, client = "aaaaaaaaaa", "aaaaaaaaaa-1"
	commands, err := nc.SubscribeSync("sb.gw." + gw + ".c")
	if err != nil {
		t.Fatal(err)
	}
	notices, err := nc.SubscribeSync("sb.grp.lobby")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	w := startNodeWorker(t, ns.ClientURL())

	type result struct {
		m   *nats.Msg
		err error
	}
	replies := make(chan result, 1) // buffered: the sender never outlives the test
	go func() {
		ev := &nats.Msg{Subject: "sb.ev.message", Header: nats.Header{}, Data: []byte(`{"type":"login","name":"ann"}`)}
		ev.Header.Set("Sb-Client", client)
		ev.Header.Set("Sb-Gateway", gw)
		m, err := nc.RequestMsg(ev, 10*time.Second)
		replies <- result{m, err}
	}()
	// Entering the room: the name goes into the session at the gateway,
	// then the join command; the join notice follows the join.
	upd, err := commands.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no session.update command: %v", err)
	}
	if h := upd.Header; h.Get("Sb-Op") != "session.update" || h.Get("Sb-Client") != client || string(upd.Data) != `{"name":"ann","room":"lobby"}` {
		t.Fatalf("session.update command = %v %q", h, upd.Data)
	}
	if err := upd.RespondMsg(&nats.Msg{Header: nats.Header{"Sb-Status": []string{"ok"}}}); err != nil {
		t.Fatal(err)
	}
	join, err := commands.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no join command: %v", err)
	}
	if h := join.Header; h.Get("Sb-Op") != "join" || h.Get("Sb-Client") != client || h.Get("Sb-Group") != "lobby" || join.Reply == "" {
		t.Fatalf("join command = %v reply %q", h, join.Reply)
	}

	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sbtest.Eventually(t, 5*time.Second, "the worker to start draining", func() bool {
		return strings.Contains(w.Log(), "draining")
	})
	select {
	case <-w.exited:
		t.Fatalf("the worker exited with an event in hand:\n%s", w.Log())
	case <-time.After(200 * time.Millisecond):
	}
	if err := join.RespondMsg(&nats.Msg{Header: nats.Header{"Sb-Status": []string{"ok"}}}); err != nil {
		t.Fatal(err)
	}
	if n, err := notices.NextMsg(5 * time.Second); err != nil || !strings.Contains(string(n.Data), `"type":"join"`) || n.Header.Get("Sb-Exclude") != client {
		t.Fatalf("join notice after the join command: %v", err)
	}

	var reply *nats.Msg
	select {
	case r := <-replies:
		if r.err != nil {
			t.Fatalf("event: %v", r.err)
		}
		reply = r.m
	case <-time.After(15 * time.Second):
		t.Fatal("no reply to the event")
	}
	var welcome chat.Frame
	if err := json.Unmarshal(reply.Data, &welcome); err != nil || welcome.Type != "welcome" || welcome.ClientID != client {
		t.Fatalf("reply body %q: %v", reply.Data, err)
	}
	h := reply.Header
	if h.Get("Sb-Status") != "ok" || h.Get("Sb-Frames") != strconv.Itoa(len(reply.Data)) ||
		h.Get("Sb-Session-Update") != `{"name":"ann","room":"lobby"}` {
		t.Fatalf("reply headers = %v", h)
	}
	w.stop(t) // already signalled: waits for the clean exit
	if _, err := nc.Request("sb.ev.message", nil, time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("after the drain: %v, want no responders", err)
	}
}

// TestNodeWorkerEventBatches: with the Node worker as the only worker,
// many clients pipelining make the gateway batch their message events
// (docs/protocol.md §5.7). The worker must take the batches: every client
// gets its replies in order, each event handled with its own client id and
// session (a say carries the name the client's login stored), and no batch
// bounced and was republished: the gateway published each connect and
// message exactly once.
func TestNodeWorkerEventBatches(t *testing.T) {
	ns := sbtest.NATS(t)
	w := startNodeWorker(t, ns.ClientURL()) // before the gateway: killed after its shutdown
	g := sbtest.Gateway(t, ns.ClientURL())

	// Message 0 logs client k in as c<k> into its own room r<k>; then
	// every third message is an unknown type (an error reply), the others
	// say k/i to the room, every fifth as a binary WebSocket message.
	msg := func(k, i int) string {
		switch {
		case i == 0:
			return fmt.Sprintf(`{"type":"login","name":"c%d","room":"r%d"}`, k, k)
		case i%3 == 0:
			return fmt.Sprintf(`{"type":"%d/%d"}`, k, i)
		default:
			return fmt.Sprintf(`{"type":"say","text":"%d/%d"}`, k, i)
		}
	}
	clients := make([]*sbtest.WS, batchClients)
	for k := range clients {
		clients[k] = sbtest.Dial(t, g, "/ws")
	}
	for i := range batchPerClient {
		for k, c := range clients {
			write := wsutil.WriteClientText
			if batchBinary(i) {
				write = wsutil.WriteClientBinary
			}
			if err := write(c.Conn, []byte(msg(k, i))); err != nil {
				t.Fatalf("client %d: send %s: %v", k, msg(k, i), err)
			}
		}
	}
	for k, c := range clients {
		name, room := fmt.Sprintf("c%d", k), fmt.Sprintf("r%d", k)
		var id string
		for i := range batchPerClient {
			s, err := c.ReadErr(20 * time.Second)
			var f chat.Frame
			if err == nil {
				err = json.Unmarshal([]byte(s), &f)
			}
			if err != nil {
				t.Fatalf("client %d, reply %d to %s: %v", k, i, msg(k, i), err)
			}
			text := fmt.Sprintf("%d/%d", k, i)
			var ok bool
			switch {
			case i == 0:
				id = f.ClientID
				ok = f.Type == "welcome" && f.Name == name && f.Room == room && len(f.Users) == 1 && id != ""
			case i%3 == 0:
				ok = f.Type == "error" && f.Message == fmt.Sprintf("unknown type %q", text)
			default:
				ok = f.Type == "say" && f.Text == text && f.Name == name && f.Room == room && f.ClientID == id
			}
			if !ok {
				t.Fatalf("client %d, reply %d to %s: %s", k, i, msg(k, i), s)
			}
		}
	}
	st := g.Stats()
	if st.EventBatches == 0 || st.EventsBatched == 0 {
		t.Fatalf("no event was batched (%d batches, %d events), so the Node worker's batches were not tested", st.EventBatches, st.EventsBatched)
	}
	checkPublishedOnce(t, g, nil) // a bounced batch would have its events published again
	if log := w.Log(); strings.Contains(log, "event batch dropped") {
		t.Errorf("the Node worker dropped batches:\n%s", log)
	}
	t.Logf("%d batches carried %d of %d message events", st.EventBatches, st.EventsBatched, batchClients*batchPerClient)
}

// TestNodeWorkerLoginTogether: with the JavaScript worker too, two users
// entering the same room at the same moment always learn of each other
// (chattest.LoginTogether, 50 times).
func TestNodeWorkerLoginTogether(t *testing.T) {
	ns := sbtest.NATS(t)
	startNodeWorker(t, ns.ClientURL()) // before the gateways: killed after their shutdown
	g1 := sbtest.Gateway(t, ns.ClientURL())
	g2 := sbtest.Gateway(t, ns.ClientURL())
	chattest.LoginTogether(t, g1, g2, 50)
}
