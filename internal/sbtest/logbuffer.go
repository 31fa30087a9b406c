package sbtest

import (
	"bytes"
	"sync"
)

// LogBuffer is a log sink that the goroutines of a gateway or worker may
// write while the test reads it (slog.NewTextHandler(&buf, nil)).
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *LogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *LogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
