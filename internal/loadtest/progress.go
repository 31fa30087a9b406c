package loadtest

import (
	"context"
	"fmt"
	"time"
)

// progress waits d (or until ctx ends), reporting line() once a second.
func progress(ctx context.Context, report func(string), d time.Duration, line func() string) {
	end := time.After(d)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-end:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			if report != nil {
				report(line())
			}
		}
	}
}

func fmtRate(what string, n int64, d time.Duration) string {
	return fmt.Sprintf("%d in %.0fs, %.0f %s", n, d.Seconds(), float64(n)/d.Seconds(), what)
}
