package main

import (
	"strings"
	"testing"
)

func TestSummarise(t *testing.T) {
	in := strings.Join([]string{
		`{"label":"echo1","server":"raw","workers":0,"r":{"scenario":"echo","result":{"latency":{"p50_ms":0.05,"p99_ms":0.1},"server_cpu_us_per_round_trip":30}}}`,
		`{"label":"echo1","server":"def","workers":1,"r":{"scenario":"echo","result":{"latency":{"p50_ms":0.2,"p99_ms":0.4},"server_cpu_us_per_round_trip":150}}}`,
		`{"label":"echo1","server":"raw","workers":0,"r":{"scenario":"echo","result":{"latency":{"p50_ms":0.06,"p99_ms":0.3},"server_cpu_us_per_round_trip":40}}}`,
		`{"label":"echo1","server":"raw","workers":0,"r":{"scenario":"echo","result":{"latency":{"p50_ms":0.07,"p99_ms":0.2},"server_cpu_us_per_round_trip":35}}}`,
		`{"label":"echo1","server":"p0","error":"server did not start"}`,
		`{"label":"oneshot19000","server":"def","workers":1,"r":{"scenario":"oneshot","result":{"rss_per_conn_idle_kb":2.5,"rss_per_conn_after_kb":7.6,"rss_per_conn_later_kb":7.5,"after_over_idle":3.04,"later_over_idle":3,"server_cpu_us_per_message":20}}}`,
	}, "\n")
	var out strings.Builder
	if err := summarise(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| echo1 | raw | 3 | 60 | 200 | 35.0 | 1.00× | 1.00× |", // medians of three
		"| echo1 | def | 1 | 200 | 400 | 150.0 | 3.33× | 4.29× |",
		"<!-- line 5: echo1 on p0 failed: server did not start -->",
		"| oneshot19000 | def | 1 | 2.50 | 7.60 | 7.50 | 3.04 | 3.00 | 20.0 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := summarise(strings.NewReader("{not json"), &out); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad line: %v", err)
	}
}
