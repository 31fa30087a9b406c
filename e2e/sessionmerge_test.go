package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/worker"
)

type mergeCase struct {
	Why    string          `json:"why"`
	Before json.RawMessage `json:"before"`
	Patch  json.RawMessage `json:"patch"`
	Want   json.RawMessage `json:"want"`
}

func mergeCases(t *testing.T) []mergeCase {
	t.Helper()
	b, err := os.ReadFile("testdata/session_merge.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []mergeCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// canonical re-encodes JSON with sorted keys and exact numbers.
func canonical(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// TestSessionMergeRules runs the table of testdata/session_merge.json
// through the gateway's merge (wire.MergeSessionJSON, which session.update
// commands, HTTP update_session and Sb-Session-Update replies use), and
// checks that the worker's diff (wire.DiffSessionJSON) merged back gives the
// session it was computed from.
func TestSessionMergeRules(t *testing.T) {
	for _, c := range mergeCases(t) {
		got, err := wire.MergeSessionJSON(c.Before, c.Patch)
		if got == nil {
			got = []byte("{}")
		}
		if err != nil || canonical(t, got) != canonical(t, c.Want) {
			t.Errorf("%s: merge = %s, %v; want %s", c.Why, got, err, c.Want)
		}
		p, changed, err := wire.DiffSessionJSON(c.Before, c.Want)
		if err != nil {
			t.Fatalf("%s: diff: %v", c.Why, err)
		}
		if !changed {
			p = []byte("{}")
		}
		back, err := wire.MergeSessionJSON(c.Before, p)
		if back == nil {
			back = []byte("{}")
		}
		if err != nil || canonical(t, back) != canonical(t, c.Want) {
			t.Errorf("%s: merging the diff %s gives %s, %v; want %s", c.Why, p, back, err, c.Want)
		}
	}
}

// TestNodeSessionMergeMatchesGo runs the same table through the Node
// worker's session.mjs (mergeSession, and sessionPatch merged back by the
// Go side as a gateway would).
func TestNodeSessionMergeMatchesGo(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("this test needs Node.js on PATH: %v", err)
	}
	dir, err := filepath.Abs(filepath.Join("..", "examples", "node-worker"))
	if err != nil {
		t.Fatal(err)
	}
	cases := mergeCases(t)
	script := `
const { mergeSession, sessionPatch } = await import("file://" + process.argv[1] + "/session.mjs");
let input = "";
for await (const chunk of process.stdin) input += chunk;
const out = JSON.parse(input).map((c) => ({
  merged: mergeSession(structuredClone(c.before), c.patch),
  patch: sessionPatch(c.before, c.want) || {},
}));
process.stdout.write(JSON.stringify(out));
`
	cmd := exec.Command("node", "--input-type=module", "-e", script, dir)
	in, _ := json.Marshal(cases)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var results []struct {
		Merged json.RawMessage `json:"merged"`
		Patch  json.RawMessage `json:"patch"`
	}
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(cases) {
		t.Fatalf("node answered %s: %v", out, err)
	}
	for i, c := range cases {
		// Numbers beyond 2^53 lose precision in JavaScript itself; compare
		// the rest.
		if c.Why == "large integers are kept exactly" {
			continue
		}
		if canonical(t, results[i].Merged) != canonical(t, c.Want) {
			t.Errorf("%s: node mergeSession = %s; want %s", c.Why, results[i].Merged, c.Want)
		}
		back, err := wire.MergeSessionJSON(c.Before, results[i].Patch)
		if back == nil {
			back = []byte("{}")
		}
		if err != nil || canonical(t, back) != canonical(t, c.Want) {
			t.Errorf("%s: node sessionPatch %s merged at the gateway = %s, %v; want %s", c.Why, results[i].Patch, back, err, c.Want)
		}
	}
}

// nester changes nested session values in handlers.
type nester struct{}

func (nester) OnMessage(c *worker.Context, m worker.Message) error {
	switch m.Text() {
	case "update":
		c.UpdateSession(bus.Session{"prefs": map[string]any{"theme": "dark"}})
	case "drop-lang":
		prefs, _ := c.Session()["prefs"].(map[string]any)
		delete(prefs, "lang")
	case "replace":
		c.Session()["prefs"] = map[string]any{"size": 2}
	}
	b, _ := json.Marshal(c.Session()["prefs"])
	return c.SendToCurrentClient(b)
}

// TestUpdateSessionMergesNestedObjects: bus.Client.UpdateSession and a
// worker's Context.UpdateSession merge nested objects; a handler that
// removes a nested key or replaces a nested object has that change kept at
// the gateway (the worker's reply carries a nested patch).
func TestUpdateSessionMergesNestedObjects(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), nester{})
	api := sbtest.Client(t, ns.ClientURL())
	c := sbtest.Dial(t, g, "/")
	sbtest.Eventually(t, 5e9, "the client listed", func() bool {
		ids, err := api.ClientIDs(ctx(t))
		if err == nil && len(ids) == 1 {
			c.ID = ids[0]
		}
		return c.ID != ""
	})
	session := func() string {
		t.Helper()
		s, err := api.Session(ctx(t), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(s)
		return string(b)
	}
	if err := api.SetSession(ctx(t), c.ID, bus.Session{"prefs": map[string]any{"lang": "en", "theme": "light"}, "n": 1}); err != nil {
		t.Fatal(err)
	}
	if err := api.UpdateSession(ctx(t), c.ID, bus.Session{"prefs": map[string]any{"lang": "fr"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := session(), `{"n":1,"prefs":{"lang":"fr","theme":"light"}}`; got != want {
		t.Fatalf("after bus UpdateSession: %s, want %s", got, want)
	}
	c.Send("update")
	c.Expect(`{"lang":"fr","theme":"dark"}`)
	if got, want := session(), `{"n":1,"prefs":{"lang":"fr","theme":"dark"}}`; got != want {
		t.Fatalf("after Context.UpdateSession: %s, want %s", got, want)
	}
	c.Send("drop-lang")
	c.Expect(`{"theme":"dark"}`)
	if got, want := session(), `{"n":1,"prefs":{"theme":"dark"}}`; got != want {
		t.Fatalf("after a handler removed a nested key: %s, want %s", got, want)
	}
	c.Send("replace")
	c.Expect(`{"size":2}`)
	if got, want := session(), `{"n":1,"prefs":{"size":2}}`; got != want {
		t.Fatalf("after a handler replaced a nested object: %s, want %s", got, want)
	}
	if err := api.UpdateSession(ctx(t), c.ID, bus.Session{"prefs": nil}); err != nil {
		t.Fatal(err)
	}
	if got, want := session(), `{"n":1}`; got != want {
		t.Fatalf("after null: %s, want %s", got, want)
	}
}
