package gateway

import (
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// TestOversizeSessionRefusedBeforeDecoding: a session over
// max_session_bytes, in a worker's reply or from the API, is refused by
// its size alone: refusing a 1 MiB one allocates almost nothing (before,
// it was copied and decoded first, about 3 MiB each, and 16 clients whose
// handler set such a session raised the gateway's RSS by 38 MiB, against
// 8 MiB since: TestRSSBigSession in e2e). The refusals are counted and
// the session is unchanged.
func TestOversizeSessionRefusedBeforeDecoding(t *testing.T) {
	f := newPathFixture(t, 0)
	server, client := net.Pipe()
	defer client.Close()
	defer server.Close()
	c := newConn(f.g, transportWS, server, 1)
	if err := c.setSession([]byte(`{"name":"ann"}`)); err != nil {
		t.Fatal(err)
	}
	big := `{"s":"` + strings.Repeat("b", 1<<20) + `"}`
	allocated := func(fn func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fn()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	const most = 256 << 10 // the gateway's other goroutines allocate meanwhile
	if n := allocated(func() { f.g.changeSession(c, big, "") }); n > most {
		t.Errorf("refusing a 1 MiB session in a reply allocated %d KiB", n>>10)
	}
	var err error
	m := &nats.Msg{Data: []byte(big)}
	n := allocated(func() { err = f.g.apply(c, wire.Command{Op: wire.OpSessionSet}, m) })
	if err == nil {
		t.Error("the API set a 1 MiB session")
	}
	if n > most {
		t.Errorf("refusing a 1 MiB session from the API allocated %d KiB", n>>10)
	}
	if s := string(c.getSession()); s != `{"name":"ann"}` {
		t.Errorf("session %q after the refusals", s)
	}
	if got := f.g.metrics.limits.snapshot()["max_session_bytes"]; got != 2 {
		t.Errorf("refused max_session_bytes = %d, want 2", got)
	}
}
