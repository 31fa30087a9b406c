package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// Report prints a result as a two-column table, or as JSON.
func Report(w io.Writer, name string, result any, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(map[string]any{"scenario": name, "result": result})
	}
	b, err := json.Marshal(result)
	if err != nil {
		return err
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
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

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
