package sbtest

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Start starts cmd with its output in the returned buffer and stops it when
// the test ends: SIGTERM, then SIGKILL if it has not exited 20 s later.
// The channel closes once the process has exited.
func Start(t testing.TB, cmd *exec.Cmd) (exited <-chan struct{}, out *LogBuffer) {
	t.Helper()
	out = &LogBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return done, out
}
