//go:build linux

package loadtest

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// startProgress calls report(line()) once a second until the returned
// stop is called; stop waits for the reporting goroutine. A nil report
// reports nothing.
func startProgress(report func(string), line func() string) (stop func()) {
	if report == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				report(line())
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// waitFor polls cond every 2 ms for up to d.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

func fmtRate(what string, n int64, d time.Duration) string {
	return fmt.Sprintf("%d in %.0fs, %.0f %s", n, d.Seconds(), float64(n)/max(d.Seconds(), 1e-9), what)
}
