package worker

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/switchboard-go/switchboard/bus"
)

func TestSessionPatch(t *testing.T) {
	raw := []byte(`{"n":1,"same":"x","nested":{"a":1},"gone":true}`)
	var before map[string]json.RawMessage
	if err := json.Unmarshal(raw, &before); err != nil {
		t.Fatal(err)
	}
	after, _ := bus.DecodeSession(raw)
	after["n"] = 1 // an int equal to the decoded float64: unchanged
	after["nested"].(map[string]any)["a"] = 2
	delete(after, "gone")
	after["new"] = "y"
	got := sessionPatch(before, after)
	want := map[string]any{"nested": map[string]any{"a": 2}, "gone": nil, "new": "y"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("patch = %v, want %v", got, want)
	}
}
