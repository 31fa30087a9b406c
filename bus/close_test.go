package bus_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// TestPushFromAnotherProgram builds the README's "Push from any other
// program" snippet (testdata/push) as a program of its own and runs it 20
// times against a gateway: each run exits right after Close, and each
// message must reach the WebSocket client bound to the uid.
func TestPushFromAnotherProgram(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH; this test builds a program with it")
	}
	bin := filepath.Join(t.TempDir(), "push")
	build := exec.Command(goBin, "build", "-o", bin, "./testdata/push")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build testdata/push: %v\n%s", err, out)
	}

	srv := sbtest.NATS(t)
	g := sbtest.Gateway(t, srv.ClientURL())
	sbtest.Worker(t, srv.ClientURL(), quiet{}) // handshakes need a running worker
	api := sbtest.Client(t, srv.ClientURL())
	ws := sbtest.Dial(t, g, "/")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sbtest.Eventually(t, 5*time.Second, "the client to be listed", func() bool {
		ids, err := api.ClientIDs(ctx)
		if err == nil && len(ids) == 1 {
			ws.ID = ids[0]
		}
		return ws.ID != ""
	})
	if err := api.BindUid(ctx, ws.ID, "user-42"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		want := "push-" + strconv.Itoa(i)
		run := exec.Command(bin, srv.ClientURL(), "user-42", want)
		if out, err := run.CombinedOutput(); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out)
		}
		// The program has exited: its message reached the server or is
		// lost. A marker sent now arrives in any case; the message must
		// arrive too (before or after it, as they have two publishers).
		marker := "marker-" + strconv.Itoa(i)
		if err := api.SendToClient(ws.ID, []byte(marker)); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for range 2 {
			m, err := ws.ReadErr(5 * time.Second)
			if err != nil {
				t.Fatalf("run %d: got %v, want %q and %q: %v", i, got, want, marker, err)
			}
			got[m] = true
		}
		if !got[want] || !got[marker] {
			t.Fatalf("run %d: got %v, want %q and %q", i, got, want, marker)
		}
	}
}

// quiet is a worker that handles messages by doing nothing.
type quiet struct{}

func (quiet) OnMessage(*worker.Context, worker.Message) error { return nil }
