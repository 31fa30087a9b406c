package jsclient

import (
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestServesTheModule(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/switchboard.js", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	onDisk, err := os.ReadFile("switchboard.js")
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != string(onDisk) || !strings.Contains(rec.Header().Get("Content-Type"), "javascript") {
		t.Fatalf("served %d bytes as %q", len(body), rec.Header().Get("Content-Type"))
	}
	if !strings.Contains(string(body), "export class Switchboard") {
		t.Fatal("not the client module")
	}
}
