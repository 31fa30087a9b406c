package loadtest

import (
	"slices"
	"sync"
	"time"
)

// latencies collects samples and reports percentiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Percentiles are latency percentiles in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func (l *latencies) percentiles() Percentiles {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return Percentiles{}
	}
	slices.Sort(l.d)
	at := func(q float64) float64 {
		i := min(int(q*float64(len(l.d))), len(l.d)-1)
		return float64(l.d[i]) / float64(time.Millisecond)
	}
	return Percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: float64(l.d[len(l.d)-1]) / float64(time.Millisecond)}
}
