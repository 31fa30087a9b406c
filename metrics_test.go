package switchboard

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboard-go/switchboard/httpapi"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

func scrape(t *testing.T, url string) string { t.Helper(); return sbtest.Scrape(t, url) }

// metricValue returns the value of the sample whose name and labels are
// exactly line (e.g. `x_total{kind="message"}`).
func metricValue(t *testing.T, body, line string) string {
	t.Helper()
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, line+" "); ok {
			return v
		}
	}
	t.Fatalf("metric %s not found", line)
	return ""
}

func TestMetricsAfterKnownTraffic(t *testing.T) {
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NATS.Port = -1
	cfg.Gateway.Listen = []string{"ws://127.0.0.1:0"}
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Log.Level = "error"
	n, err := Start(context.Background(), echoEvents{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	base := "http://" + n.GatewayAddr().String()

	const clients, each = 3, 5
	for i := range clients {
		c, _, _, err := ws.Dial(context.Background(), "ws://"+n.GatewayAddr().String()+"/")
		if err != nil {
			t.Fatal(err)
		}
		for j := range each {
			msg := fmt.Sprintf("m%d-%d", i, j)
			expectEcho(t, c, msg, 5*time.Second)
		}
		if i == 0 {
			_ = c.Close()
		} else {
			defer c.Close()
		}
	}
	// The close of the first client is handled asynchronously.
	deadline := time.Now().Add(5 * time.Second)
	var body string
	for {
		body = scrape(t, "http://"+n.MetricsAddr()+"/metrics")
		if metricValue(t, body, `switchboard_worker_events_total{kind="close",result="ok"}`) == "1" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for line, want := range map[string]string{
		"switchboard_gateway_connections":                                 "2",
		"switchboard_gateway_connects_total":                              "3",
		"switchboard_gateway_disconnects_total":                           "1",
		"switchboard_gateway_messages_in_total":                           "15",
		"switchboard_gateway_messages_out_total":                          "15",
		"switchboard_gateway_bytes_in_total":                              "60",
		`switchboard_worker_events_total{kind="message",result="ok"}`:     "15",
		`switchboard_worker_events_total{kind="connect",result="ok"}`:     "3",
		`switchboard_worker_events_total{kind="close",result="ok"}`:       "1",
		`switchboard_worker_event_duration_seconds_count{kind="message"}`: "15",
		`switchboard_gateway_refused_total{reason="slow_client"}`:         "0",
		"switchboard_gateway_events_redelivered_direct_total":             "0",
		"switchboard_worker_events_dropped_total":                         "0",
		`switchboard_nats_connected{role="gateway"}`:                      "1",
	} {
		if got := metricValue(t, body, line); got != want {
			t.Errorf("%s = %s, want %s", line, got, want)
		}
	}
	if got := scrape(t, base+"/readyz"); got != "ready\n" {
		t.Errorf("/readyz = %q", got)
	}
	if got := scrape(t, base+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz = %q", got)
	}
}

func TestAPIRoleOnTheGatewayPort(t *testing.T) {
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NATS.Port = -1
	cfg.Gateway.Listen = []string{"ws://127.0.0.1:0"}
	cfg.Log.Level = "error"
	cfg.Roles = append(cfg.Roles, RoleAPI)
	cfg.API.Tokens = []httpapi.Token{{Token: "0123456789abcdef", Calls: []string{"client_count"}}}
	n, err := Start(context.Background(), echoEvents{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.GatewayAddr().String()+"/api/client_count", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer 0123456789abcdef")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"count":0}` {
		t.Fatalf("POST /api/client_count: %d %s", resp.StatusCode, b)
	}
	if page := scrape(t, "http://"+n.GatewayAddr().String()+"/admin/"); !strings.Contains(page, "Switchboard admin") {
		t.Fatal("/admin/ does not serve the admin page")
	}
}

// TestMetricsNotOnClientPort: /metrics is served on metrics.listen, and on
// the clients' port only with metrics.on_gateway_port; /healthz and
// /readyz stay there (issue 13 item 8).
func TestMetricsNotOnClientPort(t *testing.T) {
	for _, onGatewayPort := range []bool{false, true} {
		cfg, err := LoadConfig("")
		if err != nil {
			t.Fatal(err)
		}
		cfg.NATS.Port = -1
		cfg.Gateway.Listen = []string{"ws://127.0.0.1:0"}
		cfg.Metrics.Listen = "127.0.0.1:0"
		cfg.Metrics.OnGatewayPort = onGatewayPort
		cfg.Log.Level = "error"
		n, err := Start(context.Background(), echoEvents{}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + n.GatewayAddr().String()
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[onGatewayPort]; resp.StatusCode != want {
			t.Errorf("on_gateway_port %v: GET /metrics on the gateway port: %d, want %d", onGatewayPort, resp.StatusCode, want)
		}
		if body := scrape(t, "http://"+n.MetricsAddr()+"/metrics"); !strings.Contains(body, "switchboard_gateway_connections") {
			t.Error("metrics.listen serves no gateway metrics")
		}
		if got := scrape(t, base+"/readyz"); got != "ready\n" {
			t.Errorf("/readyz on the gateway port = %q", got)
		}
		_ = n.Stop(context.Background())
	}
}
