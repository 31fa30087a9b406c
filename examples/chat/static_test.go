package chat

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

func TestStaticFS(t *testing.T) {
	static, err := StaticFS()
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(static, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)

	if !strings.Contains(page, "/ws`") && !strings.Contains(page, `/ws"`) {
		t.Error("page does not connect to /ws")
	}
	// Stable ids used by browser tests.
	for _, id := range []string{"name", "room", "login", "text", "send", "messages", "users", "status"} {
		if !strings.Contains(page, `id="`+id+`"`) {
			t.Errorf("page has no element with id %q", id)
		}
	}
	for _, s := range []string{
		`"msg`, "dataset.type", "dataset.clientId", // .msg[data-type], li[data-client-id]
		"connected", "reconnecting", "disconnected", // #status texts
		`"welcome"`, `"join"`, `"leave"`, `"say"`, `"login"`, `"room"`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("page does not mention %s", s)
		}
	}
	// User text goes through textContent; nothing is fetched from elsewhere.
	if strings.Contains(page, "innerHTML") {
		t.Error("page uses innerHTML")
	}
	if regexp.MustCompile(`(src|href)="(https?:)?//|https?://`).MatchString(page) {
		t.Error("page references an external URL")
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*import\b.*?from\s+"([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "/") || strings.HasPrefix(m[1], "//") {
			t.Errorf("module import %q is not same-origin", m[1])
		}
	}
}
