package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/httpapi"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// greeter tells each client its id.
type greeter struct{}

func (greeter) OnConnect(c *worker.Context) error {
	return c.SendToCurrentClient([]byte(c.ClientID()))
}

type env struct {
	t   *testing.T
	srv *httptest.Server
}

func (e env) call(token, name string, body any) (int, map[string]any) {
	e.t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/"+name, bytes.NewReader(b))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s: answer is not JSON: %q", name, raw)
	}
	return resp.StatusCode, out
}

func (e env) ok(name string, body any) map[string]any {
	e.t.Helper()
	status, out := e.call("admin", name, body)
	if status != http.StatusOK {
		e.t.Fatalf("%s: %d %v", name, status, out)
	}
	return out
}

func TestEveryCall(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), greeter{})
	api := sbtest.Client(t, ns.ClientURL())
	h := httpapi.New(api, []httpapi.Token{{Token: "admin", Calls: []string{"*"}}, {Token: "pusher", Calls: []string{"send_to_group"}}}, 4096, nil)
	e := env{t: t, srv: httptest.NewServer(h)}
	defer e.srv.Close()

	a, b := sbtest.Dial(t, g, "/"), sbtest.Dial(t, g, "/")
	a.ID, b.ID = a.Read(5*time.Second), b.Read(5*time.Second)

	e.ok("join_group", map[string]any{"client_id": a.ID, "group": "room"})
	e.ok("join_group", map[string]any{"client_id": b.ID, "group": "room"})
	e.ok("bind_uid", map[string]any{"client_id": a.ID, "uid": "ann"})
	e.ok("send_to_group", map[string]any{"group": "room", "data": "to room", "exclude": []string{b.ID}})
	a.Expect("to room")
	b.ExpectNothingFrom(api)
	e.ok("send_to_uid", map[string]any{"uid": "ann", "data": "to ann"})
	a.Expect("to ann")
	e.ok("send_to_client", map[string]any{"client_id": b.ID, "data": base64.StdEncoding.EncodeToString([]byte{1, 2}), "binary": true})
	_ = b.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if data, err := wsutil.ReadServerBinary(b.Conn); err != nil || !bytes.Equal(data, []byte{1, 2}) {
		t.Fatalf("binary send: %v %v", data, err)
	}
	e.ok("join_group", map[string]any{"client_id": a.ID, "group": "other"})
	e.ok("send_to_groups", map[string]any{"groups": []string{"room", "other"}, "data": "to rooms"})
	a.Expect("to rooms") // once, though a is in both groups
	b.Expect("to rooms")
	a.ExpectNothingFrom(api)
	e.ok("send_to_uids", map[string]any{"uids": []string{"ann", "nobody"}, "data": "to uids"})
	a.Expect("to uids")
	b.ExpectNothingFrom(api)
	e.ok("leave_group", map[string]any{"client_id": a.ID, "group": "other"})
	e.ok("send_to_all", map[string]any{"data": "all", "client_ids": []string{a.ID}})
	a.Expect("all")
	b.ExpectNothingFrom(api)
	// The same key in different objects is not a duplicate.
	e.ok("update_session", fmt.Sprintf(`{"client_id":%q,"session":{"a":{"k":1},"b":{"k":1},"c":[{"k":1},{"k":1}],"k":0}}`, a.ID))
	e.ok("update_session", map[string]any{"client_id": a.ID, "session": map[string]any{"k": "v"}})
	if s := e.ok("get_session", map[string]any{"client_id": a.ID}); s["session"].(map[string]any)["k"] != "v" {
		t.Fatalf("get_session = %v", s)
	}
	e.ok("set_session", map[string]any{"client_id": a.ID, "session": map[string]any{"only": 1}})

	for name, want := range map[string]string{
		"is_online":                fmt.Sprintf(`{"client_id":%q}|{"online":true}`, a.ID),
		"is_uid_online":            `{"uid":"ann"}|{"online":true}`,
		"client_ids_by_uid":        fmt.Sprintf(`{"uid":"ann"}|{"client_ids":[%q]}`, a.ID),
		"uid_by_client_id":         fmt.Sprintf(`{"client_id":%q}|{"uid":"ann"}`, a.ID),
		"client_count":             `{}|{"count":2}`,
		"client_count_by_group":    `{"group":"room"}|{"count":2}`,
		"uids_by_group":            `{"group":"room"}|{"uids":["ann"]}`,
		"uid_count_by_group":       `{"group":"room"}|{"count":1}`,
		"uids":                     `{}|{"uids":["ann"]}`,
		"uid_count":                `{}|{"count":1}`,
		"group_ids":                `{}|{"groups":["room"]}`,
		"group_uid_list":           `{}|{"groups":{"room":["ann"]}}`,
		"group_uid_counts":         `{}|{"groups":{"room":1}}`,
		"group_client_counts":      `{}|{"groups":{"room":2}}`,
		"uids_by_groups":           `{"groups":["room","nothing"]}|{"uids":["ann"]}`,
		"client_sessions_by_group": fmt.Sprintf(`{"group":"room"}|{"sessions":{%q:{"only":1},%q:{}}}`, a.ID, b.ID),
	} {
		req, answer, _ := strings.Cut(want, "|")
		got, _ := json.Marshal(e.ok(name, req))
		var norm any
		_ = json.Unmarshal([]byte(answer), &norm)
		wantJSON, _ := json.Marshal(norm)
		if string(got) != string(wantJSON) {
			t.Errorf("%s = %s, want %s", name, got, wantJSON)
		}
	}
	for _, c := range []struct{ name, body, key string }{
		{"client_ids", `{}`, "client_ids"},
		{"client_ids_by_group", `{"group":"room"}`, "client_ids"},
		{"client_ids_by_groups", `{"groups":["room","nothing"]}`, "client_ids"},
		{"group_client_ids", `{}`, "groups"},
		{"all_client_sessions", `{}`, "sessions"},
	} {
		out := e.ok(c.name, c.body)
		if s := fmt.Sprint(out[c.key]); !strings.Contains(s, a.ID) || !strings.Contains(s, b.ID) {
			t.Errorf("%s answered %v, want both clients", c.name, out)
		}
	}
	e.ok("leave_group", map[string]any{"client_id": b.ID, "group": "room"})
	e.ok("unbind_uid", map[string]any{"client_id": a.ID, "uid": "ann"})
	e.ok("ungroup", map[string]any{"group": "room"})
	if n := e.ok("client_count_by_group", map[string]any{"group": "room"}); n["count"] != 0.0 {
		t.Fatalf("after ungroup: %v", n)
	}
	e.ok("close_client", map[string]any{"client_id": a.ID, "data": "bye"})
	a.Expect("bye")
	e.ok("destroy_client", map[string]any{"client_id": b.ID})
	sbtest.Eventually(t, 5*time.Second, "no clients", func() bool { return g.ConnectionCount() == 0 })
	if status, out := e.call("admin", "is_online", map[string]any{"client_id": a.ID}); status != 200 || out["online"] != false {
		t.Fatalf("is_online after close: %d %v", status, out)
	}
	if status, out := e.call("admin", "get_session", map[string]any{"client_id": a.ID}); status != 404 || code(out) != "client_not_found" {
		t.Fatalf("get_session of a gone client: %d %v", status, out)
	}
}

func code(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestRefusalsChangeNothing(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), greeter{})
	api := sbtest.Client(t, ns.ClientURL())
	h := httpapi.New(api, []httpapi.Token{{Token: "admin", Calls: []string{"*"}}, {Token: "pusher", Calls: []string{"send_to_group"}}}, 256, nil)
	e := env{t: t, srv: httptest.NewServer(h)}
	defer e.srv.Close()
	c := sbtest.Dial(t, g, "/")
	c.ID = c.Read(5 * time.Second)
	e.ok("join_group", map[string]any{"client_id": c.ID, "group": "room"})
	send := map[string]any{"client_id": c.ID, "data": "must not arrive"}

	for _, tc := range []struct {
		token, call string
		body        any
		status      int
		code        string
	}{
		{"", "send_to_client", send, 401, "unauthorized"},
		{"wrong", "send_to_client", send, 401, "unauthorized"},
		{"pusher", "send_to_client", send, 403, "forbidden"},
		{"admin", "send_to_client", map[string]any{"client_id": c.ID, "data": strings.Repeat("x", 300)}, 413, "too_large"},
		{"admin", "send_to_client", `{"client_id": `, 400, "bad_json"},
		{"admin", "send_to_client", `{"client_id": "x", "surprise": 1}`, 400, "bad_json"},
		{"admin", "send_to_client", map[string]any{"client_id": c.ID}, 400, "bad_request"},
		{"admin", "send_to_client", map[string]any{"client_id": "not-an-id", "data": "x"}, 400, "bad_request"},
		{"admin", "leave_group", map[string]any{"client_id": c.ID}, 400, "bad_request"},
		{"admin", "no_such_call", map[string]any{}, 404, "unknown_call"},
		{"admin", "send_to_client", map[string]any{"client_id": c.ID, "data": "not base64!", "binary": true}, 400, "bad_request"},
		{"admin", "send_to_client", fmt.Sprintf(`{"client_id":%q,"data":"x"} trailing`, c.ID), 400, "bad_json"},
		{"admin", "send_to_client", fmt.Sprintf(`{"client_id":%q,"data":"x"}{}`, c.ID), 400, "bad_json"},
		{"admin", "send_to_client", fmt.Sprintf(`{"client_id":%q,"data":"x","data":"y"}`, c.ID), 400, "bad_json"},
		{"admin", "update_session", fmt.Sprintf(`{"client_id":%q,"session":{"a":{"k":1,"k":2}}}`, c.ID), 400, "bad_json"},
		{"admin", "send_to_groups", map[string]any{"groups": []string{}, "data": "x"}, 400, "bad_request"},
	} {
		status, out := e.call(tc.token, tc.call, tc.body)
		if status != tc.status || code(out) != tc.code {
			t.Errorf("%s with token %q: %d %v, want %d %s", tc.call, tc.token, status, out, tc.status, tc.code)
		}
	}
	c.ExpectNothingFrom(api)
	if n := e.ok("client_count_by_group", map[string]any{"group": "room"}); n["count"] != 1.0 {
		t.Fatalf("a refused call changed membership: %v", n)
	}
	status, out := e.call("pusher", "send_to_group", map[string]any{"group": "room", "data": "allowed"})
	if status != 200 || out["ok"] != true {
		t.Fatalf("pusher send_to_group: %d %v", status, out)
	}
	c.Expect("allowed")
}

// TestEveryGoCallIsInTheAPI: every exported method of bus.Client is an
// HTTP call, or is listed here as one that has no HTTP form on purpose.
func TestEveryGoCallIsInTheAPI(t *testing.T) {
	notHTTP := map[string]string{
		"Close":    "closes the Go client",
		"Conn":     "the Go client's NATS connection",
		"Subjects": "the Go client's subject builder",
		"Flush":    "the HTTP API flushes on every call's return",
	}
	rename := map[string]string{
		"Session":       "get_session",
		"Clients":       "clients",
		"ClientIDs":     "client_ids",
		"Gateways":      "gateways",
		"Workers":       "workers",
		"UidByClientID": "uid_by_client_id",
	}
	calls := httpapi.Calls()
	typ := reflect.TypeFor[*bus.Client]()
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		if notHTTP[name] != "" {
			continue
		}
		call, ok := rename[name]
		if !ok {
			call = snake(name)
		}
		if _, ok := calls[call]; !ok {
			t.Errorf("bus.Client.%s has no HTTP call %q (add it to httpapi.Calls, docs/http-api.md and docs/openapi.json)", name, call)
		}
	}
}

// snake turns a Go method name into the HTTP call's name: SendToUids →
// send_to_uids, ClientIDsByUid → client_ids_by_uid.
func snake(name string) string {
	name = strings.ReplaceAll(name, "IDs", "Ids")
	name = strings.ReplaceAll(name, "ID", "Id")
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestOpenAPIDocument(t *testing.T) {
	doc := httpapi.OpenAPI()
	paths := doc["paths"].(map[string]any)
	for name := range httpapi.Calls() {
		if _, ok := paths["/api/"+name]; !ok {
			t.Errorf("openapi has no path for %s", name)
		}
	}
	if doc["openapi"] != "3.0.3" {
		t.Fatal("not an OpenAPI 3 document")
	}
}

// TestDocsAreCurrent keeps docs/openapi.json and docs/http-api.md in step
// with the calls.
func TestDocsAreCurrent(t *testing.T) {
	want, _ := json.MarshalIndent(httpapi.OpenAPI(), "", "  ")
	got, err := os.ReadFile("../docs/openapi.json")
	if err != nil || strings.TrimSpace(string(got)) != string(want) {
		t.Fatalf("docs/openapi.json is stale (%v): regenerate it from httpapi.OpenAPI()", err)
	}
	md, err := os.ReadFile("../docs/http-api.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range httpapi.Calls() {
		if !strings.Contains(string(md), "/api/"+name+" ") {
			t.Errorf("docs/http-api.md has no curl example for %s", name)
		}
	}
}
