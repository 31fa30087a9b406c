package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/examples/chat/chattest"
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

// TestNodeWorkerChat runs the chat with the JavaScript worker instead of the
// Go one: same behaviour, from docs/protocol.md alone.
func TestNodeWorkerChat(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	startNodeWorker(t, ns.ClientURL())
	chattest.Scenario(t, g)
}
