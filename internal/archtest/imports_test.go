package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/switchboard-go/switchboard"

// pkg is what `go list -json` says about one package of the module.
type pkg struct {
	ImportPath string
	Deps       []string // transitive, non-test
}

// listModule runs `go list -json ./...` over the whole module
// (from the module root, two levels up) and returns its packages by import
// path.
func listModule(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Deps", "./...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	for _, must := range []string{"bus", "gateway", "worker", "natsserver", "httpapi"} {
		if _, ok := pkgs[module+"/"+must]; !ok {
			t.Fatalf("go list found no package %s/%s: the test reads the wrong tree", module, must)
		}
	}
	return pkgs
}

// hasDep reports the first of deps that is path or under path/.
func hasDep(deps []string, path string) (string, bool) {
	for _, d := range deps {
		if d == path || strings.HasPrefix(d, path+"/") {
			return d, true
		}
	}
	return "", false
}

// TestImportGraph: the layering that lets each part change alone.
func TestImportGraph(t *testing.T) {
	pkgs := listModule(t)
	forbid := []struct {
		from, to, why string
	}{
		{"bus", module + "/gateway", "bus is the user's package and the shared contract; the gateway builds on it"},
		{"bus", module + "/worker", "bus is the user's package and the shared contract; the worker builds on it"},
		{"bus", "github.com/nats-io/nats-server", "importing bus must link the NATS client only (the embedded server is package natsserver)"},
		{"gateway", module + "/worker", "gateway and worker meet only on the wire (internal/wire)"},
		{"worker", module + "/gateway", "gateway and worker meet only on the wire (internal/wire)"},
		{"internal/wire", module + "/bus", "the wire package is the contract under bus, gateway and worker, not above them"},
		{"internal/wire", module + "/gateway", "the wire package is the contract under bus, gateway and worker, not above them"},
		{"internal/wire", module + "/worker", "the wire package is the contract under bus, gateway and worker, not above them"},
		{"internal/wire", "github.com/nats-io/nats-server", "bus imports the wire package, and importing bus must not link nats-server"},
		{"natsserver", module + "/bus", "the embedded server knows nothing of Switchboard's protocol"},
		{"natsserver", module + "/gateway", "the embedded server knows nothing of Switchboard's protocol"},
		{"natsserver", module + "/worker", "the embedded server knows nothing of Switchboard's protocol"},
	}
	for _, f := range forbid {
		p, ok := pkgs[module+"/"+f.from]
		if !ok {
			t.Fatalf("go list found no package %s/%s: its rules would hold for nothing", module, f.from)
		}
		if d, ok := hasDep(p.Deps, f.to); ok {
			t.Errorf("%s depends on %s (via the non-test import graph): %s", f.from, d, f.why)
		}
	}
}

// TestLibraryDoesNotImportCommands: no package outside cmd/ and examples/
// depends on either in its code (directly or not): commands and examples
// are leaves a user copies, not something the library leans on. Tests may
// run them (e2e drives examples/chat; the load tests, examples/bench).
func TestLibraryDoesNotImportCommands(t *testing.T) {
	pkgs := listModule(t)
	leaf := func(path string) bool {
		rel := strings.TrimPrefix(path, module+"/")
		return strings.HasPrefix(rel, "cmd/") || strings.HasPrefix(rel, "examples/")
	}
	var bad []string
	for path, p := range pkgs {
		if leaf(path) {
			continue
		}
		for _, imp := range p.Deps {
			if strings.HasPrefix(imp, module+"/") && leaf(imp) {
				bad = append(bad, path+" depends on "+imp)
			}
		}
	}
	slices.Sort(bad)
	for _, b := range bad {
		t.Error(b)
	}
}

// TestBusDoesNotLinkNATSServer is the literal check of issue 15:
// `go list -deps ./bus | grep nats-server` prints nothing.
func TestBusDoesNotLinkNATSServer(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./bus")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./bus: %v\n%s", err, stderr.String())
	}
	if !bytes.Contains(out, []byte("github.com/nats-io/nats.go\n")) {
		t.Fatalf("go list -deps ./bus does not list nats.go; the test reads the wrong output:\n%s", out)
	}
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "nats-server") {
			t.Errorf("bus links %s", strings.TrimSpace(line))
		}
	}
}
