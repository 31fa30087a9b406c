// Command sittingtable summarises a sitting (the JSON lines of
// examples/bench/scripts/sitting.sh) as markdown tables: for each echo
// label and server the medians of the runs' p50, p99 and server CPU per
// round trip, with their ratios to the raw server's medians; for each
// oneshot label the medians of RSS per connection idle, right after the
// messages and later, and of the ratios to idle.
//
//	sittingtable < /tmp/light.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
)

func main() {
	if err := summarise(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sittingtable:", err)
		os.Exit(1)
	}
}

// line is one run of a sitting.
type line struct {
	Label  string `json:"label"`
	Server string `json:"server"`
	Error  string `json:"error"`
	R      struct {
		Scenario string         `json:"scenario"`
		Result   map[string]any `json:"result"`
		Error    string         `json:"error"`
	} `json:"r"`
}

type key struct{ label, server string }

// summarise reads a sitting from r and writes its tables to w.
func summarise(r io.Reader, w io.Writer) error {
	runs := map[key][]map[string]any{}
	var echoKeys, oneshotKeys []key
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if l.Error != "" || l.R.Error != "" {
			fmt.Fprintf(w, "<!-- line %d: %s on %s failed: %s%s -->\n", n, l.Label, l.Server, l.Error, l.R.Error)
			continue
		}
		k := key{l.Label, l.Server}
		if _, seen := runs[k]; !seen {
			switch l.R.Scenario {
			case "echo":
				echoKeys = append(echoKeys, k)
			case "oneshot":
				oneshotKeys = append(oneshotKeys, k)
			}
		}
		runs[k] = append(runs[k], l.R.Result)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	med := func(k key, path ...string) float64 { return median(runs[k], path...) }
	if len(echoKeys) > 0 {
		fmt.Fprintln(w, "| run | server | runs | p50 µs | p99 µs | server CPU µs/round trip | p50 / raw | CPU / raw |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
		for _, k := range echoKeys {
			p50, p99, cpu := med(k, "latency", "p50_ms")*1000, med(k, "latency", "p99_ms")*1000, med(k, "server_cpu_us_per_round_trip")
			raw := key{k.label, "raw"}
			ratio := func(v, ref float64) string {
				if _, ok := runs[raw]; !ok || ref <= 0 {
					return "–"
				}
				return fmt.Sprintf("%.2f×", v/ref)
			}
			fmt.Fprintf(w, "| %s | %s | %d | %.0f | %.0f | %.1f | %s | %s |\n", k.label, k.server, len(runs[k]), p50, p99, cpu,
				ratio(p50, med(raw, "latency", "p50_ms")*1000), ratio(cpu, med(raw, "server_cpu_us_per_round_trip")))
		}
	}
	if len(oneshotKeys) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| run | server | runs | idle KiB/conn | after KiB/conn | later KiB/conn | after / idle | later / idle | server CPU µs/message |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
		for _, k := range oneshotKeys {
			fmt.Fprintf(w, "| %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f |\n", k.label, k.server, len(runs[k]),
				med(k, "rss_per_conn_idle_kb"), med(k, "rss_per_conn_after_kb"), med(k, "rss_per_conn_later_kb"),
				med(k, "after_over_idle"), med(k, "later_over_idle"), med(k, "server_cpu_us_per_message"))
		}
	}
	return nil
}

// median returns the median of the number at path in each result (the
// lower middle one of an even count), 0 when none has it.
func median(results []map[string]any, path ...string) float64 {
	var vs []float64
	for _, r := range results {
		var v any = r
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			v = m[p]
		}
		if f, ok := v.(float64); ok {
			vs = append(vs, f)
		}
	}
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	return vs[(len(vs)-1)/2]
}
