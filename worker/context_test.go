package worker

import (
	"encoding/json"
	"testing"

	"github.com/switchboard-go/switchboard/internal/wire"
)

func TestSessionPatch(t *testing.T) {
	raw := []byte(`{"n":1,"same":"x","nested":{"a":1,"b":1},"gone":true}`)
	var before map[string]json.RawMessage
	if err := json.Unmarshal(raw, &before); err != nil {
		t.Fatal(err)
	}
	after, _ := wire.DecodeSession(raw)
	after["n"] = 1 // an int equal to the decoded float64: unchanged
	after["nested"].(map[string]any)["a"] = 2
	delete(after["nested"].(map[string]any), "b")
	delete(after, "gone")
	after["new"] = "y"
	// A nested object gets a nested patch: the gateway merges
	// recursively, so the removed "b" must be named.
	got, _ := json.Marshal(sessionPatch(before, after))
	want := `{"gone":null,"nested":{"a":2,"b":null},"new":"y"}`
	if string(got) != want {
		t.Fatalf("patch = %s, want %s", got, want)
	}
	merged, err := wire.MergeSessionJSON(raw, got)
	if wantS := `{"n":1,"nested":{"a":2},"new":"y","same":"x"}`; err != nil || string(merged) != wantS {
		t.Fatalf("merged at the gateway = %s, %v; want %s", merged, err, wantS)
	}
}
