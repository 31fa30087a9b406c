package wire

import (
	"strconv"
	"time"
)

// Event deadlines (docs/protocol.md §5.1, "Sb-Deadline"). Every event and
// event batch carries the moment its gateway stops waiting for the answer
// to this attempt, in Unix milliseconds. A worker that only gets to an
// event after that moment skips it: the gateway has already sent it again
// or given it up, so running the handler would be wasted work at best and
// a duplicate side effect at worst.

// DefaultDeadlineSkew is how far a worker's clock may run ahead of a
// gateway's before the worker skips events the gateway still waits for: a
// worker skips an event only once its deadline passed by more than this.
// Gateway and worker clocks must agree within it (NTP keeps machines within
// milliseconds).
const DefaultDeadlineSkew = time.Second

// AppendDeadline appends t as an Sb-Deadline value (Unix milliseconds) to b.
func AppendDeadline(b []byte, t time.Time) []byte {
	return strconv.AppendInt(b, t.UnixMilli(), 10)
}

// ParseDeadline reads an Sb-Deadline value. ok is false for "" (no
// deadline: a gateway older than the header) and for a value that is not
// a positive decimal number of milliseconds.
func ParseDeadline(s string) (ms int64, ok bool) {
	if s == "" {
		return 0, false
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return 0, false
	}
	return ms, true
}
