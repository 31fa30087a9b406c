package gateway_test

import (
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// TestFirstMessageAfterIdleDoesNotLinger: a connection that was quiet for
// the linger time before its message is read and goes back to epoll at
// once; no reader goroutine lingers on it (holding a stack and a read
// buffer) after its echo. Thousands of idle clients each sending one
// message would otherwise keep as many goroutines and buffers for the
// linger time, and the process's RSS at that peak.
func TestFirstMessageAfterIdleDoesNotLinger(t *testing.T) {
	g := start(t)
	c := sbtest.Dial(t, g, "/")
	// Quiet for longer than the linger time since the connect (the wait
	// is the condition itself).
	time.Sleep(gateway.LingerTime + 20*time.Millisecond)
	c.Send("one")
	c.Expect("one")
	deadline := time.Now().Add(10 * time.Second)
	for {
		stacks := goroutineStacks(t)
		if !strings.Contains(stacks, "gateway.(*netpoll).run") {
			t.Fatal("no epoll goroutine in the dump: the test no longer looks at the netpoll reader")
		}
		if strings.Contains(stacks, "gateway.(*netpoll).linger") {
			t.Fatalf("a reader lingers after the first message of an idle connection:\n%s", stacks)
		}
		if !strings.Contains(stacks, "gateway.(*netpoll).readable") {
			return // the reader re-armed epoll and ended without lingering
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reader did not end:\n%s", stacks)
		}
		time.Sleep(time.Millisecond)
	}
}

func goroutineStacks(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
