package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// Sessions travel as JSON objects: whole in HdrSession and HdrSessionSet,
// as a patch in HdrSessionUpd. These are the encoder, the decoder and the
// patch rules that gateways and workers share.

// EncodeSession returns the compact JSON of s; nil or empty gives nil.
func EncodeSession(s map[string]any) ([]byte, error) {
	if len(s) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	return b, nil
}

// DecodeSession parses a session; empty input gives an empty, non-nil map.
func DecodeSession(b []byte) (map[string]any, error) {
	s := map[string]any{}
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	return s, nil
}

// MergeSessionJSON merges patch into old recursively and returns the new
// encoding (GatewayWorker's updateSession, PHP's array_replace_recursive):
// a key whose patch value is an object merges into the old value when that
// is an object too (into an empty object otherwise); a null value removes
// the key (at any depth); any other value (string, number, bool, array)
// replaces the old one whole. Numbers are kept exactly as written.
func MergeSessionJSON(old, patch []byte) ([]byte, error) {
	base := map[string]any{}
	if len(old) > 0 {
		if err := decodeExact(old, &base); err != nil {
			return nil, fmt.Errorf("decode session: %w", err)
		}
	}
	var p map[string]any
	if err := decodeExact(patch, &p); err != nil {
		return nil, fmt.Errorf("decode session patch: %w", err)
	}
	MergeSession(base, p) // a null patch (p == nil) changes nothing
	if len(base) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(base)
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	return b, nil
}

// decodeExact decodes JSON keeping numbers as json.Number.
func decodeExact(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// MergeSession merges patch into dst with the rules of MergeSessionJSON.
// Nested objects are map[string]any or Session values; dst never keeps a
// map of patch (it copies them), so later changes to patch do not leak in.
func MergeSession(dst, patch map[string]any) {
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			continue
		}
		pm, ok := asObject(v)
		if !ok {
			dst[k] = v
			continue
		}
		dm, ok := asObject(dst[k])
		if !ok {
			dm = map[string]any{}
		}
		MergeSession(dm, pm)
		dst[k] = dm
	}
}

func asObject(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	}
	// A named map type such as bus.Session is an object too.
	mapType := reflect.TypeFor[map[string]any]()
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Map && rv.Type().ConvertibleTo(mapType) {
		return rv.Convert(mapType).Interface().(map[string]any), true
	}
	return nil, false
}

// DiffSessionJSON returns the patch that MergeSessionJSON turns before into
// after, for two JSON objects: the keys whose value changed (objects on
// both sides give a nested patch), with null for removed keys. changed is
// false when the two are equal.
func DiffSessionJSON(before, after []byte) (patch json.RawMessage, changed bool, err error) {
	var b, a map[string]json.RawMessage
	if err := json.Unmarshal(before, &b); err != nil {
		return nil, false, fmt.Errorf("decode session: %w", err)
	}
	if err := json.Unmarshal(after, &a); err != nil {
		return nil, false, fmt.Errorf("decode session: %w", err)
	}
	out := map[string]json.RawMessage{}
	for k, av := range a {
		bv, ok := b[k]
		switch {
		case ok && bytes.Equal(bytes.TrimSpace(bv), bytes.TrimSpace(av)):
		case ok && isJSONObject(bv) && isJSONObject(av):
			p, changed, err := DiffSessionJSON(bv, av)
			if err != nil {
				return nil, false, err
			}
			if changed {
				out[k] = p
			}
		default:
			out[k] = av
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out[k] = json.RawMessage("null")
		}
	}
	if len(out) == 0 {
		return nil, false, nil
	}
	p, err := json.Marshal(out)
	return p, err == nil, err
}

// isJSONObject reports whether b holds a JSON object (after spaces).
func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}
