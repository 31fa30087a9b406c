package e2e

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestGatewayWorkerDocNamesEverySubtest keeps docs/gatewayworker.md and
// TestGatewayWorkerConformance in step: every subtest a table row names
// exists, and every subtest is named by a row (or by the sentence after
// the Events table).
func TestGatewayWorkerDocNamesEverySubtest(t *testing.T) {
	doc, err := os.ReadFile("../docs/gatewayworker.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("gatewayworker_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var subtests []string
	for _, m := range regexp.MustCompile(`(?m)^\tt\.Run\("([^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		subtests = append(subtests, m[1])
	}
	if len(subtests) < 40 {
		t.Fatalf("found %d subtests in gatewayworker_test.go; the pattern is out of date", len(subtests))
	}
	named := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(line, " |"), " | ")
		if len(cells) != 5 { // the function and callback tables; not the settings
			continue
		}
		last := cells[len(cells)-1]
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(last, -1) {
			named[m[1]] = true
			if !slices.Contains(subtests, m[1]) && !strings.Contains(m[1], "/") {
				t.Errorf("docs/gatewayworker.md names subtest %q, which TestGatewayWorkerConformance does not have", m[1])
			}
		}
	}
	for _, s := range subtests {
		if !named[s] && !strings.Contains(string(doc), "`"+s+"`") {
			t.Errorf("subtest %q is in no row of docs/gatewayworker.md", s)
		}
	}
}
