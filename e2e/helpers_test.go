package e2e

import (
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/worker"

	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// readData reads one data message and says whether it was text or binary.
func readData(c *sbtest.WS) ([]byte, string, error) {
	data, op, err := wsutil.ReadServerData(c.Conn)
	if op == ws.OpBinary {
		return data, "binary", err
	}
	return data, "text", err
}

func gatewayEventTimeout(d time.Duration) gateway.Option { return gateway.EventTimeout(d) }

func errorAs(err error, target any) bool { return errors.As(err, target) }

func workerPrefix(p string) worker.Option { return worker.Prefix(p) }

// buildProgram builds the main package pkg (a path relative to e2e) into
// the test's temporary directory and returns the binary's path.
func buildProgram(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}
