// Command mutcheck proves that the suite notices the breakages it was
// written against: each mutant in mutants/ is a small source patch (one
// promised behaviour broken on purpose) naming the tests that must fail
// with it. mutcheck applies each patch to scratch copies of the files it
// touches, builds and runs the named tests with `go test -overlay` (the
// tree itself is never changed), and fails if a mutant survives (its
// tests pass) or no longer applies.
//
// Run it from the module root:
//
//	go run ./internal/mutcheck          # a few mutants, rotating by day
//	go run ./internal/mutcheck -all     # every mutant
//	go run ./internal/mutcheck -only 04 # mutants whose file name matches
//
// A mutant file starts with a header, then the unified diff (as `git diff`
// prints it):
//
//	Breakage: what the patch breaks, in one sentence.
//	Package: ./gateway
//	Run: ^TestSomething$
//	Pending: why no test catches it yet (optional; the mutant is listed, not run)
//
// See docs/testing.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// mutant is one patch file and its header.
type mutant struct {
	name     string // file name
	path     string
	breakage string
	pkg      string
	run      string
	pending  string
	files    []string // paths the patch changes, relative to the module root
}

func main() {
	all := flag.Bool("all", false, "run every mutant")
	n := flag.Int("n", 3, "mutants per run without -all, chosen by -seed")
	seed := flag.Int64("seed", time.Now().Unix()/86400, "rotation seed (default: the day number)")
	only := flag.String("only", "", "run the mutants whose file name matches this regular expression")
	race := flag.Bool("race", false, "run the tests with the race detector")
	dir := flag.String("dir", "internal/mutcheck/mutants", "directory of mutant patches")
	timeout := flag.Duration("timeout", 5*time.Minute, "time limit of one mutant's tests")
	verbose := flag.Bool("v", false, "print the test output of every mutant")
	flag.Parse()
	if err := run(*dir, *all, *n, *seed, *only, *race, *timeout, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "mutcheck:", err)
		os.Exit(1)
	}
}

func run(dir string, all bool, n int, seed int64, only string, race bool, timeout time.Duration, verbose bool) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run from the module root (no go.mod here)")
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	ms, err := load(dir)
	if err != nil {
		return err
	}
	var runnable []*mutant
	for _, m := range ms {
		if m.pending != "" {
			fmt.Printf("PENDING  %s: %s\n", m.name, m.pending)
			continue
		}
		runnable = append(runnable, m)
	}
	chosen := runnable
	switch {
	case only != "":
		re, err := regexp.Compile(only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		chosen = nil
		for _, m := range runnable {
			if re.MatchString(m.name) {
				chosen = append(chosen, m)
			}
		}
	case !all && n < len(runnable):
		chosen = nil
		start := int(((seed*int64(n))%int64(len(runnable)) + int64(len(runnable))) % int64(len(runnable)))
		for i := range n {
			chosen = append(chosen, runnable[(start+i)%len(runnable)])
		}
		fmt.Printf("running %d of %d mutants (seed %d; -all runs every one)\n", n, len(runnable), seed)
	}
	var failed []string
	for _, m := range chosen {
		start := time.Now()
		verdict, out, err := check(root, m, race, timeout)
		d := time.Since(start).Round(100 * time.Millisecond)
		switch {
		case err != nil:
			fmt.Printf("BROKEN   %s (%v): %v\n", m.name, d, err)
			failed = append(failed, m.name)
		case verdict == "killed":
			fmt.Printf("killed   %s (%v): %s\n", m.name, d, firstFailure(out))
		default:
			fmt.Printf("SURVIVED %s (%v): %s passed %s with the breakage: %s\n", m.name, d, m.pkg, m.run, m.breakage)
			failed = append(failed, m.name)
		}
		if verbose || err != nil {
			os.Stdout.Write(out)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d mutants survived or could not run: %s", len(failed), len(chosen), strings.Join(failed, ", "))
	}
	fmt.Printf("all %d mutants killed\n", len(chosen))
	return nil
}

// load reads every *.patch of dir, sorted by name.
func load(dir string) ([]*mutant, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.patch"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no mutants in %s", dir)
	}
	slices.Sort(paths)
	var ms []*mutant
	for _, p := range paths {
		m, err := parse(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func parse(path string) (*mutant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &mutant{name: filepath.Base(path), path: path}
	header := true
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "diff --git ") || strings.HasPrefix(line, "--- ") {
			header = false
		}
		if header {
			key, value, ok := strings.Cut(line, ":")
			value = strings.TrimSpace(value)
			switch {
			case !ok:
			case key == "Breakage":
				m.breakage = value
			case key == "Package":
				m.pkg = value
			case key == "Run":
				m.run = value
			case key == "Pending":
				m.pending = value
			}
			continue
		}
		if f, ok := strings.CutPrefix(line, "+++ b/"); ok {
			m.files = append(m.files, f)
		}
	}
	switch {
	case m.breakage == "" || m.pkg == "" || m.run == "":
		return nil, errors.New("the header needs Breakage:, Package: and Run: lines")
	case len(m.files) == 0:
		return nil, errors.New("no diff (+++ b/<file> lines) after the header")
	}
	return m, nil
}

// check applies m to scratch copies of its files and runs its tests with
// an overlay; it returns "killed" when the tests failed, "survived" when
// they passed, and an error when the mutant could not be built or run.
func check(root string, m *mutant, race bool, timeout time.Duration) (string, []byte, error) {
	scratch, err := os.MkdirTemp("", "mutcheck-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(scratch)
	tree := filepath.Join(scratch, "tree")
	replace := map[string]string{}
	for _, f := range m.files {
		src, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return "", nil, fmt.Errorf("the patch changes %s: %w", f, err)
		}
		dst := filepath.Join(tree, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(dst, src, 0o644); err != nil {
			return "", nil, err
		}
		replace[filepath.Join(root, f)] = dst
	}
	patch, err := filepath.Abs(m.path)
	if err != nil {
		return "", nil, err
	}
	// Outside a repository, git apply patches the files under its working
	// directory, as patch -p1 would.
	apply := exec.Command("git", "apply", "--whitespace=nowarn", patch)
	apply.Dir = tree
	apply.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+scratch)
	if out, err := apply.CombinedOutput(); err != nil {
		return "", out, fmt.Errorf("the patch no longer applies (update it to the code): %v", err)
	}
	overlay := filepath.Join(scratch, "overlay.json")
	ob, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(overlay, ob, 0o644); err != nil {
		return "", nil, err
	}
	args := []string{"test", "-count=1", "-timeout", timeout.String(), "-run", m.run}
	if race {
		args = append(args, "-race")
	}
	args = append(args, m.pkg)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	// In GOFLAGS, the overlay also reaches the go commands the tests run
	// themselves (a test that builds the binary).
	cmd.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -overlay="+overlay))
	out, err := cmd.CombinedOutput()
	if err == nil {
		if !bytes.Contains(out, []byte("ok ")) || bytes.Contains(out, []byte("[no tests to run]")) {
			return "", out, fmt.Errorf("no test matched %s in %s", m.run, m.pkg)
		}
		return "survived", out, nil
	}
	switch {
	case bytes.Contains(out, []byte("[build failed]")), bytes.Contains(out, []byte("[setup failed]")):
		return "", out, errors.New("the mutant does not build")
	case bytes.Contains(out, []byte("--- FAIL")), bytes.Contains(out, []byte("panic: ")):
		return "killed", out, nil
	}
	return "", out, fmt.Errorf("go test: %v", err)
}

// firstFailure returns the first failure message of a test run's output.
func firstFailure(out []byte) string {
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "--- FAIL") {
			for _, next := range lines[i+1:] {
				next = strings.TrimSpace(next)
				if next != "" && !strings.HasPrefix(next, "time=") && !strings.HasPrefix(next, "=== ") && !strings.HasPrefix(next, "--- ") {
					return next
				}
			}
			return strings.TrimSpace(l)
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") {
			return l
		}
	}
	return "(failed)"
}
