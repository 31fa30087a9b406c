package worker_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/worker"
)

// lockedBuffer is a log destination the handler goroutines and the test
// share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// doorman refuses /deny on purpose and fails on /broken.
type doorman struct{}

func (doorman) OnWebSocketConnect(_ *worker.Context, hs bus.Handshake) error {
	switch hs.Path {
	case "/deny":
		return worker.Reject(http.StatusUnauthorized, "no token")
	case "/broken":
		return errors.New("user database unreachable")
	}
	return nil
}

// TestRejectIsNotLoggedAsAnError: a refusal by worker.Reject is a decision,
// logged at info as "handshake refused" with its status; any other error
// from OnWebSocketConnect (it refuses with 403) is still "handler failed" at
// error. Before the fix the refusal logged: level=ERROR msg="handler
// failed" event=wsconnect err="rejected (401): no token".
func TestRejectIsNotLoggedAsAnError(t *testing.T) {
	var logs lockedBuffer
	nc := startWorker(t, doorman{}, worker.Logger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	subj, _ := wire.NewSubjects("sb")
	ask := func(path string) *nats.Msg {
		t.Helper()
		body, _ := json.Marshal(bus.Handshake{Path: path})
		reply, err := nc.RequestMsg(&nats.Msg{
			Subject: subj.Event(wire.EventWebSocketConnect),
			Header:  nats.Header{wire.HdrClient: {"gwtest0001-1"}},
			Data:    body,
		}, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return reply
	}

	if r := ask("/deny"); r.Header.Get(wire.HdrStatus) != wire.StatusReject || r.Header.Get(wire.HdrHTTPStatus) != "401" {
		t.Fatalf("/deny answered %v", r.Header)
	}
	out := logs.String() // the worker logs before it answers
	if strings.Contains(out, "ERROR") || strings.Contains(out, "handler failed") {
		t.Fatalf("a deliberate refusal was logged as an error:\n%s", out)
	}
	if !strings.Contains(out, "level=INFO") || !strings.Contains(out, `msg="handshake refused"`) || !strings.Contains(out, "status=401") {
		t.Fatalf("want an info line for the refusal:\n%s", out)
	}

	if r := ask("/broken"); r.Header.Get(wire.HdrHTTPStatus) != "403" {
		t.Fatalf("/broken answered %v", r.Header)
	}
	if out := logs.String(); !strings.Contains(out, `level=ERROR msg="handler failed"`) || !strings.Contains(out, "user database unreachable") {
		t.Fatalf("a failing OnWebSocketConnect must still log an error:\n%s", out)
	}
}
