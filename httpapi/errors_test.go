package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/httpapi"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/internal/wire"
)

func message(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// TestMissingFieldsAreNamed: a call refuses a request that lacks a field
// it needs with 400 bad_request naming the field, and sends nothing.
func TestMissingFieldsAreNamed(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), greeter{})
	api := sbtest.Client(t, ns.ClientURL())
	e := env{t: t, srv: httptest.NewServer(httpapi.New(api, []httpapi.Token{{Token: "admin", Calls: []string{"*"}}}, 0, nil))}
	defer e.srv.Close()
	c := sbtest.Dial(t, g, "/")
	c.ID = c.Read(5 * time.Second)
	e.ok("join_group", map[string]any{"client_id": c.ID, "group": "room"})
	e.ok("bind_uid", map[string]any{"client_id": c.ID, "uid": "ann"})

	for _, tc := range []struct {
		call  string
		body  any
		field string
	}{
		{"send_to_client", map[string]any{"data": "x"}, "client_id"},
		{"send_to_uid", map[string]any{"data": "x"}, "uid"},
		{"send_to_uid", map[string]any{"uid": "ann"}, "data"},
		{"send_to_group", map[string]any{"data": "x"}, "group"},
		{"send_to_uids", map[string]any{"data": "x"}, "uids"},
		{"send_to_uids", map[string]any{"uids": []string{}, "data": "x"}, "uids"},
		{"send_to_groups", map[string]any{"data": "x"}, "groups"},
		{"set_session", map[string]any{"client_id": c.ID}, "session"},
		{"update_session", map[string]any{"client_id": c.ID}, "session"},
		{"set_session", map[string]any{"session": map[string]any{"k": 1}}, "client_id"},
		{"close_client", map[string]any{}, "client_id"},
		{"is_uid_online", map[string]any{}, "uid"},
		{"client_ids_by_groups", map[string]any{}, "groups"},
	} {
		status, out := e.call("admin", tc.call, tc.body)
		if status != http.StatusBadRequest || code(out) != "bad_request" || message(out) != tc.field+" is required" {
			t.Errorf("%s %v: %d %v, want 400 bad_request %q", tc.call, tc.body, status, out, tc.field+" is required")
		}
	}
	c.ExpectNothingFrom(api)
	if s := e.ok("get_session", map[string]any{"client_id": c.ID}); fmt.Sprint(s["session"]) != "map[]" {
		t.Fatalf("a refused session call changed the session: %v", s)
	}
	if n := e.ok("is_online", map[string]any{"client_id": c.ID}); n["online"] != true {
		t.Fatalf("a refused close_client closed the client: %v", n)
	}
}

// TestCloseClient: close_client without data closes the client with no
// message first; with binary data that is not base64 it is refused and
// the client stays connected.
func TestCloseClient(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), greeter{})
	api := sbtest.Client(t, ns.ClientURL())
	e := env{t: t, srv: httptest.NewServer(httpapi.New(api, []httpapi.Token{{Token: "admin", Calls: []string{"*"}}}, 0, nil))}
	defer e.srv.Close()
	c := sbtest.Dial(t, g, "/")
	c.ID = c.Read(5 * time.Second)

	status, out := e.call("admin", "close_client", map[string]any{"client_id": c.ID, "data": "not base64!", "binary": true})
	if status != http.StatusBadRequest || code(out) != "bad_request" || !strings.Contains(message(out), "not base64") {
		t.Fatalf("close_client with bad base64: %d %v, want 400 bad_request (not base64)", status, out)
	}
	c.ExpectNothingFrom(api) // still connected, and sent nothing

	if out := e.ok("close_client", map[string]any{"client_id": c.ID}); out["ok"] != true {
		t.Fatalf("close_client: %v", out)
	}
	s, err := c.ReadErr(5 * time.Second)
	var closed wsutil.ClosedError
	if !errors.As(err, &closed) {
		t.Fatalf("after close_client without data: read %q, %v; want a close frame", s, err)
	}
	sbtest.Eventually(t, 5*time.Second, "the client gone", func() bool { return g.ConnectionCount() == 0 })
	status, out = e.call("admin", "close_client", map[string]any{"client_id": c.ID})
	if status != http.StatusNotFound || code(out) != "client_not_found" {
		t.Fatalf("close_client of a gone client: %d %v, want 404 client_not_found", status, out)
	}
}

// TestTokenScopes: the token decides before anything else; a scoped token
// reaches only its calls, an unknown call is not revealed to a caller
// without a valid token, and a Handler with no tokens refuses all.
func TestTokenScopes(t *testing.T) {
	ns := sbtest.NATS(t)
	api := sbtest.Client(t, ns.ClientURL())
	tokens := []httpapi.Token{
		{Token: "admin", Calls: []string{"*"}},
		{Token: "reader", Calls: []string{"client_count", "uids"}},
		{Token: "nothing", Calls: nil},
	}
	e := env{t: t, srv: httptest.NewServer(httpapi.New(api, tokens, 0, nil))}
	defer e.srv.Close()
	closed := env{t: t, srv: httptest.NewServer(httpapi.New(api, nil, 0, nil))}
	defer closed.srv.Close()

	for _, tc := range []struct {
		e             env
		token, call   string
		status        int
		code, message string
	}{
		{e, "reader", "client_count", 200, "", ""},
		{e, "reader", "uids", 200, "", ""},
		{e, "reader", "client_ids", 403, "forbidden", `this token may not call "client_ids"`},
		{e, "reader", "no_such_call", 403, "forbidden", `this token may not call "no_such_call"`},
		{e, "nothing", "client_count", 403, "forbidden", `this token may not call "client_count"`},
		{e, "", "no_such_call", 401, "unauthorized", "missing bearer token"},
		{e, "bogus", "no_such_call", 401, "unauthorized", "unknown token"},
		{e, "admi", "client_count", 401, "unauthorized", "unknown token"},
		{e, "Admin", "client_count", 401, "unauthorized", "unknown token"},
		{e, "admin", "no_such_call", 404, "unknown_call", `no call "no_such_call"`},
		{closed, "admin", "client_count", 401, "unauthorized", "unknown token"},
		{closed, "", "client_count", 401, "unauthorized", "missing bearer token"},
	} {
		status, out := tc.e.call(tc.token, tc.call, map[string]any{})
		if status != tc.status || code(out) != tc.code || message(out) != tc.message {
			t.Errorf("%s with token %q: %d %v, want %d %s %q", tc.call, tc.token, status, out, tc.status, tc.code, tc.message)
		}
	}
	// Only "Bearer <token>" is a token: another scheme or an empty token is none.
	for _, auth := range []string{"admin", "bearer admin", "Basic admin", "Bearer ", "Bearer"} {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/client_count", strings.NewReader(`{}`))
		req.Header.Set("Authorization", auth)
		status, out := do(t, req)
		if status != http.StatusUnauthorized || code(out) != "unauthorized" || message(out) != "missing bearer token" {
			t.Errorf("Authorization %q: %d %v, want 401 missing bearer token", auth, status, out)
		}
	}
}

func do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer is not JSON: %d %q", resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	return resp.StatusCode, out
}

// TestOpenAPIServed: GET /api/openapi.json serves the document without a
// token; a call is POST only.
func TestOpenAPIServed(t *testing.T) {
	ns := sbtest.NATS(t)
	api := sbtest.Client(t, ns.ClientURL())
	srv := httptest.NewServer(httpapi.New(api, []httpapi.Token{{Token: "admin", Calls: []string{"*"}}}, 0, nil))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/openapi.json", nil)
	status, got := do(t, req)
	want, _ := json.Marshal(httpapi.OpenAPI())
	gotJSON, _ := json.Marshal(got)
	if status != http.StatusOK || string(gotJSON) != string(want) {
		t.Fatalf("GET /api/openapi.json: %d %s, want 200 and httpapi.OpenAPI()", status, gotJSON)
	}

	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/api/client_count", nil)
	req.Header.Set("Authorization", "Bearer admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
		t.Fatalf("GET of a call: %d (Allow %q), want 405", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestTruncatedBody: a body shorter than its Content-Length (the caller
// stopped sending) is refused with 400 bad_json, and nothing is sent.
func TestTruncatedBody(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), greeter{})
	api := sbtest.Client(t, ns.ClientURL())
	srv := httptest.NewServer(httpapi.New(api, []httpapi.Token{{Token: "admin", Calls: []string{"*"}}}, 0, nil))
	defer srv.Close()
	c := sbtest.Dial(t, g, "/")
	c.ID = c.Read(5 * time.Second)

	body := fmt.Sprintf(`{"client_id":%q,"data":"must not arrive"}`, c.ID)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /api/send_to_client HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body)+10, body)
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a truncated body: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode != http.StatusBadRequest || code(out) != "bad_json" || !strings.Contains(message(out), "reading the body") {
		t.Fatalf("truncated body: %d %s, want 400 bad_json (reading the body)", resp.StatusCode, raw)
	}
	c.ExpectNothingFrom(api)
}

// TestQueryTimeoutIs504: a gateway that is alive (heartbeats) but does
// not answer queries makes a query call fail with 504 timeout at the
// request's deadline, naming the silent gateway, and the failure is
// logged.
func TestQueryTimeoutIs504(t *testing.T) {
	ns := sbtest.NATS(t)
	sbtest.Gateway(t, ns.ClientURL(), gateway.HeartbeatInterval(50*time.Millisecond))
	api := sbtest.Client(t, ns.ClientURL())
	nc := sbtest.Conn(t, ns.ClientURL())
	subj, _ := wire.NewSubjects("sb")
	const frozen = "frozen0001"
	sbtest.AnnounceGateway(t, nc, subj, frozen)
	var logs sbtest.LogBuffer
	h := httpapi.New(api, []httpapi.Token{{Token: "admin", Calls: []string{"*"}}}, 0, slog.New(slog.NewTextHandler(&logs, nil)))
	// The server in front bounds each request to 300 ms, as a deployment's
	// own deadline would; the API keeps the shorter of it and its own.
	short := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 300*time.Millisecond)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
	e := env{t: t, srv: httptest.NewServer(short)}
	defer e.srv.Close()

	var (
		status int
		out    map[string]any
	)
	sbtest.Eventually(t, 10*time.Second, "a query that waits for the frozen gateway", func() bool {
		status, out = e.call("admin", "client_count", map[string]any{})
		return status != http.StatusOK
	})
	if status != http.StatusGatewayTimeout || code(out) != "timeout" || !strings.Contains(message(out), frozen) {
		t.Fatalf("client_count with a frozen gateway: %d %v, want 504 timeout naming %s", status, out, frozen)
	}
	if l := logs.String(); !strings.Contains(l, "api call failed") || !strings.Contains(l, "call=client_count") || !strings.Contains(l, frozen) {
		t.Fatalf("the timeout was not logged: %q", l)
	}
}

// TestNoGatewayAnswersAtOnce: with no gateway on the bus a query call
// answers 200 with nothing, well before any deadline.
func TestNoGatewayAnswersAtOnce(t *testing.T) {
	ns := sbtest.NATS(t)
	api := sbtest.Client(t, ns.ClientURL())
	e := env{t: t, srv: httptest.NewServer(httpapi.New(api, []httpapi.Token{{Token: "admin", Calls: []string{"*"}}}, 0, nil))}
	defer e.srv.Close()
	start := time.Now()
	for name, want := range map[string]string{
		"client_count": `{"count":0}`,
		"client_ids":   `{"client_ids":[]}`,
		"uid_count":    `{"count":0}`,
		"group_ids":    `{"groups":null}`,
	} {
		got, _ := json.Marshal(e.ok(name, map[string]any{}))
		if string(got) != want {
			t.Errorf("%s with no gateway = %s, want %s", name, got, want)
		}
	}
	if d := time.Since(start); d >= bus.DefaultTimeout {
		t.Fatalf("queries with no gateway took %v: they waited for the deadline", d)
	}
}

// TestBusDownIs500: when the API's NATS connection is closed every call
// fails with 500 internal (never a false ok), and the failure is logged.
func TestBusDownIs500(t *testing.T) {
	ns := sbtest.NATS(t)
	nc := sbtest.Conn(t, ns.ClientURL())
	api, err := bus.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var logs sbtest.LogBuffer
	h := httpapi.New(api, []httpapi.Token{{Token: "admin", Calls: []string{"*"}}}, 0, slog.New(slog.NewTextHandler(&logs, nil)))
	e := env{t: t, srv: httptest.NewServer(h)}
	defer e.srv.Close()
	e.ok("client_count", map[string]any{})
	nc.Close()
	for _, tc := range []struct {
		call string
		body any
	}{
		{"client_count", map[string]any{}},
		{"send_to_group", map[string]any{"group": "room", "data": "x"}},
		{"join_group", map[string]any{"client_id": wire.ClientID(wire.NewGatewayID(), 1), "group": "room"}},
	} {
		status, out := e.call("admin", tc.call, tc.body)
		if status != http.StatusInternalServerError || code(out) != "internal" || !strings.Contains(message(out), "connection closed") {
			t.Errorf("%s with the bus closed: %d %v, want 500 internal (connection closed)", tc.call, status, out)
		}
		if l := logs.String(); !strings.Contains(l, "call="+tc.call) {
			t.Errorf("%s: failure not logged: %q", tc.call, l)
		}
	}
}
