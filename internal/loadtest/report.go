//go:build linux

package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
)

// Report prints a scenario's result (one of the Run functions' results)
// to w as a two-column table of its JSON fields, sorted by name, or as one
// JSON object {"scenario": name, "result": {...}} when asJSON is set.
func Report(w io.Writer, name string, result any, asJSON bool) error {
	if asJSON {
		if err := json.NewEncoder(w).Encode(map[string]any{"scenario": name, "result": result}); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		return nil
	}
	b, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\t%s\n", name)
	for _, k := range sortedKeys(fields) {
		switch v := fields[k].(type) {
		case map[string]any:
			for _, k2 := range sortedKeys(v) {
				fmt.Fprintf(tw, "%s.%s\t%v\n", k, k2, format(v[k2]))
			}
		default:
			fmt.Fprintf(tw, "%s\t%v\n", k, format(v))
		}
	}
	return tw.Flush()
}

func format(v any) any {
	if f, ok := v.(float64); ok {
		if f == float64(int64(f)) {
			return int64(f)
		}
		return fmt.Sprintf("%.3f", f)
	}
	return v
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
