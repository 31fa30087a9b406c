package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// TestQueriesOnAFullGateway is issue 14's check at the size this machine
// allows: as many clients as one gateway process can hold on one stock
// NATS server (default max_payload, 1 MiB), and every list and sessions
// query returns all of them. The gateway runs as its own process (the
// switchboard binary with roles [gateway]), so its file descriptors are
// its own; the clients, the worker and the API client are in the test
// process. It runs only when SB_FULL_GATEWAY_CLIENTS gives the count:
//
//	SB_FULL_GATEWAY_CLIENTS=19980 go test -run TestQueriesOnAFullGateway -v ./e2e
//
// (a process here may hold at most 20,000 descriptors; the gateway needs
// about 20 besides its clients). TestQueriesPastAStockMaxPayload runs the
// same queries with 5,000 clients in every suite run.
func TestQueriesOnAFullGateway(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SB_FULL_GATEWAY_CLIENTS"))
	if n <= 0 {
		t.Skip("set SB_FULL_GATEWAY_CLIENTS to the number of clients (a measurement, not a suite test)")
	}
	ns := sbtest.NATS(t)
	url := ns.ClientURL()
	dir := t.TempDir()
	bin := buildProgram(t, "../cmd/switchboard")
	port := sbtest.FreePort(t)
	cfg := filepath.Join(dir, "gateway.yaml")
	yaml := fmt.Sprintf("roles: [gateway]\nnats:\n  url: %s\ngateway:\n  listen: [ws://127.0.0.1:%d]\n  allowed_origins: [\"*\"]\nmetrics:\n  listen: \"\"\napi:\n  listen: \"\"\n", url, port)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "start", "-c", cfg)
	cmd.Dir = dir
	_, out := sbtest.Start(t, cmd)
	sbtest.Worker(t, url, padder{})
	api := sbtest.Client(t, url, bus.WithTimeout(60*time.Second))
	sbtest.Eventually(t, 30*time.Second, "the gateway process to join", func() bool {
		gs, err := api.Gateways(ctx(t))
		return err == nil && len(gs) == 1
	})

	start := time.Now()
	addr := fmt.Sprintf("ws://127.0.0.1:%d/", port)
	dialer := ws.Dialer{Timeout: 10 * time.Second} // a frozen gateway fails the dial, not the test's timeout
	for i := range n {
		c, _, _, err := dialer.Dial(context.Background(), addr)
		if err != nil {
			t.Fatalf("client %d: %v\ngateway log:\n%s", i, err, out.String())
		}
		t.Cleanup(func() { c.Close() })
	}
	sbtest.Eventually(t, 120*time.Second, "every client in the group", func() bool {
		c, err := api.ClientCountByGroup(ctx(t), "all")
		return err == nil && c == n
	})
	t.Logf("%d clients connected to one gateway process and joined in %v", n, time.Since(start))
	check := func(what string, got int, err error) {
		t.Helper()
		if err != nil || got != n {
			t.Fatalf("%s: %d, %v; want %d", what, got, err, n)
		}
		t.Logf("%s: %d clients", what, got)
	}
	start = time.Now()
	ids, err := api.ClientIDs(context.Background())
	check("ClientIDs", len(ids), err)
	ids, err = api.ClientIDsByGroup(context.Background(), "all")
	check("ClientIDsByGroup", len(ids), err)
	ss, err := api.AllClientSessions(context.Background())
	check("AllClientSessions", len(ss), err)
	ss, err = api.ClientSessionsByGroup(context.Background(), "all")
	check("ClientSessionsByGroup", len(ss), err)
	infos, err := api.Clients(context.Background(), bus.Filter{}, bus.FieldUid, bus.FieldGroups, bus.FieldSession)
	check("Clients with every field", len(infos), err)
	t.Logf("5 queries over %d clients in %v (every session 300 bytes: about %d MiB of sessions per sessions query, past the 1 MiB max_payload)",
		n, time.Since(start), n*330>>20)
}
