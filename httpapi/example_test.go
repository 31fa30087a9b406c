package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/httpapi"
	"github.com/switchboard-go/switchboard/natsserver"
)

// call is the client side: one POST per call, a bearer token, a JSON body,
// a JSON answer. Any language's HTTP client does the same.
func call(baseURL, token, name, body string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, baseURL+"/api/"+name, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(bytes.TrimSpace(answer)), err
}

// A backend that does not speak NATS pushes and asks over HTTP. The
// server side mounts the handler on a bus.Client; each token may be
// limited to some calls.
func ExampleNew() {
	srv, err := natsserver.Start(natsserver.Config{Port: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()
	api, err := bus.Connect(srv.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer api.Close()
	h := httpapi.New(api, []httpapi.Token{
		{Token: "admin-secret", Calls: []string{"*"}},
		{Token: "pusher-secret", Calls: []string{"send_to_group", "send_to_uid"}},
	}, 1<<20, slog.New(slog.DiscardHandler))
	web := httptest.NewServer(h) // in production: your http.Server, behind TLS
	defer web.Close()

	for _, c := range []struct{ token, name, body string }{
		{"pusher-secret", "send_to_group", `{"group":"room:lobby","data":"hello"}`},
		{"pusher-secret", "send_to_uid", `{"uid":"user-42","data":"aGk=","binary":true}`},
		{"admin-secret", "is_uid_online", `{"uid":"user-42"}`},
		{"pusher-secret", "client_count", `{}`},
		{"admin-secret", "send_to_group", `{"group":"room:lobby"}`},
	} {
		status, answer, err := call(web.URL, c.token, c.name, c.body)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(c.name, status, answer)
	}
	// Output:
	// send_to_group 200 {"ok":true}
	// send_to_uid 200 {"ok":true}
	// is_uid_online 200 {"online":false}
	// client_count 403 {"error":{"code":"forbidden","message":"this token may not call \"client_count\""}}
	// send_to_group 400 {"error":{"code":"bad_request","message":"data is required"}}
}
