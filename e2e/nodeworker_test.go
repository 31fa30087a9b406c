package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/examples/chat"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// startNodeWorker runs examples/node-worker against url and waits until it
// is subscribed. Node.js and npm are required (.ci/run has them).
func startNodeWorker(t *testing.T, url string) *strings.Builder {
	t.Helper()
	dir, err := filepath.Abs("../examples/node-worker")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("the Node worker test needs node: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "nats")); err != nil {
		npm := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		npm.Dir = dir
		if out, err := npm.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	cmd := exec.Command("node", "worker.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NATS_URL="+url)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var mu sync.Mutex
	log := &strings.Builder{}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), "node worker ready") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the node worker did not become ready:\n%s", log.String())
	}
	return log
}

type chatClient struct {
	t  *testing.T
	ws *sbtest.WS
}

func (c chatClient) send(f chat.Frame) {
	b, _ := json.Marshal(f)
	c.ws.Send(string(b))
}

func (c chatClient) next(typ string) chat.Frame {
	c.t.Helper()
	for {
		var f chat.Frame
		if err := json.Unmarshal([]byte(c.ws.Read(5*time.Second)), &f); err != nil {
			c.t.Fatal(err)
		}
		if f.Type == typ {
			return f
		}
	}
}

// TestNodeWorkerChat runs the chat with the JavaScript worker instead of the
// Go one: same behaviour, from docs/protocol.md alone.
func TestNodeWorkerChat(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	startNodeWorker(t, ns.ClientURL())

	alice := chatClient{t, sbtest.Dial(t, g, "/ws")}
	bob := chatClient{t, sbtest.Dial(t, g, "/ws")}
	alice.send(chat.Frame{Type: "say", Text: "too early"})
	if e := alice.next("error"); e.Message != "login first" {
		t.Fatalf("error = %q", e.Message)
	}
	alice.send(chat.Frame{Type: "login", Name: "alice"})
	if w := alice.next("welcome"); w.Room != "lobby" || len(w.Users) != 1 {
		t.Fatalf("welcome = %+v", w)
	}
	bob.send(chat.Frame{Type: "login", Name: "bob"})
	if w := bob.next("welcome"); len(w.Users) != 2 {
		t.Fatalf("bob's welcome lists %+v, want alice and bob", w.Users)
	}
	if j := alice.next("join"); j.Name != "bob" {
		t.Fatalf("join = %+v", j)
	}
	bob.send(chat.Frame{Type: "say", Text: "hi alice"})
	if s := alice.next("say"); s.Name != "bob" || s.Text != "hi alice" || s.Time.IsZero() {
		t.Fatalf("alice got %+v", s)
	}
	bob.next("say")
	bob.send(chat.Frame{Type: "room", Room: "kitchen"})
	if l := alice.next("leave"); l.Name != "bob" || l.Room != "lobby" {
		t.Fatalf("leave = %+v", l)
	}
	if w := bob.next("welcome"); w.Room != "kitchen" || len(w.Users) != 1 {
		t.Fatalf("kitchen welcome = %+v", w)
	}
	alice.send(chat.Frame{Type: "room", Room: "kitchen"})
	alice.next("welcome")
	bob.next("join")
	_ = alice.ws.Conn.Close()
	if l := bob.next("leave"); l.Name != "alice" {
		t.Fatalf("leave after close = %+v", l)
	}
}
