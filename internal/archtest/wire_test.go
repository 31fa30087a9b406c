package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The package allowed to build or parse NATS subjects, and to name
// headers: every message kind's writer and reader live there side by side.
// A subject or header change then touches it and the code that calls its
// functions, nothing else.
const wireDir = "internal/wire/"

// subjectPiece matches a string literal that is part of a subject: a
// namespace token with its dots (".gw.", ".ev.", ".rb", "ev."), or a
// wildcard tail (".>").
var subjectPiece = regexp.MustCompile(`^\.(ev|evb|gw|grp|uid|all|q|hb|whb|r|b|rb|c|p)\.?$|^(ev|evb|gw|grp|uid)\.$|\.>$`)

// dotFuncs are the strings functions that, given a lone "." or '.', split
// or search a subject by its tokens.
var dotFuncs = map[string]bool{
	"Split": true, "SplitN": true, "SplitAfter": true, "SplitSeq": true, "Cut": true,
	"Index": true, "IndexByte": true, "LastIndex": true, "LastIndexByte": true, "Count": true,
	"Fields": true, "FieldsFunc": true, "TrimSuffix": true, "TrimPrefix": true, "CutPrefix": true, "CutSuffix": true,
}

// wireOffences lists, for one parsed file, each place that builds or
// parses subjects or names a header by hand.
func wireOffences(fset *token.FileSet, f *ast.File, subjectsOK, headersOK bool) []string {
	var out []string
	report := func(n ast.Node, what string) {
		out = append(out, fset.Position(n.Pos()).String()+": "+what)
	}
	// isSubject: m.Subject or m.Reply, a NATS message's subjects.
	isSubject := func(e ast.Expr) bool {
		sel, ok := e.(*ast.SelectorExpr)
		return ok && (sel.Sel.Name == "Subject" || sel.Sel.Name == "Reply")
	}
	isDot := func(e ast.Expr) bool {
		lit, ok := e.(*ast.BasicLit)
		return ok && (lit.Value == `"."` || lit.Value == `'.'`)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			// A header name outside wire: the header is read or written
			// by hand instead of by wire's typed readers and writers.
			if x, ok := n.X.(*ast.Ident); ok && !headersOK && x.Name == "wire" && strings.HasPrefix(n.Sel.Name, "Hdr") {
				report(n, "wire."+n.Sel.Name+" used (read and write headers with wire's typed readers and writers)")
			}
		case *ast.BasicLit:
			if n.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(n.Value)
			if err != nil {
				return true
			}
			if !subjectsOK && subjectPiece.MatchString(s) {
				report(n, "subject piece "+n.Value+" (build subjects with wire.Subjects)")
			}
			if !headersOK && strings.HasPrefix(s, "Sb-") {
				report(n, "header name "+n.Value+" (use the wire.Hdr constants)")
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "strings" && dotFuncs[sel.Sel.Name] && !subjectsOK {
				if slices.ContainsFunc(n.Args, isDot) {
					report(n, "strings."+sel.Sel.Name+" on \".\" (parse subjects with wire.Subjects)")
				}
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "strings" && len(n.Args) > 0 && isSubject(n.Args[0]) && !subjectsOK {
				report(n, "strings."+sel.Sel.Name+" on a message's subject (parse subjects with wire.Subjects)")
			}
			if sel.Sel.Name == "Get" && len(n.Args) == 1 && !headersOK {
				if lit, ok := n.Args[0].(*ast.BasicLit); ok && lit.Value == `"Status"` {
					report(n, "the NATS status header read by hand (use wire.NoResponders)")
				}
			}
			if sel.Sel.Name == "Prefix" && len(n.Args) == 0 && !subjectsOK {
				report(n, "the subject prefix used by hand (build or parse subjects with wire.Subjects)")
			}
		case *ast.SliceExpr:
			if isSubject(n.X) && !subjectsOK {
				report(n, "a message's subject sliced (parse subjects with wire.Subjects)")
			}
		case *ast.IndexExpr:
			if isSubject(n.X) && !subjectsOK {
				report(n, "a message's subject indexed (parse subjects with wire.Subjects)")
			}
		case *ast.BinaryExpr:
			if (n.Op == token.EQL || n.Op == token.NEQ) && (isDot(n.X) || isDot(n.Y)) && !subjectsOK {
				report(n, "a byte compared with '.' (parse subjects with wire.Subjects)")
			}
		case *ast.FuncDecl:
			if name := n.Name.Name; !subjectsOK && (name == "lastDot" || name == "replyTokens") {
				report(n, "func "+name+" (parse subjects with wire.Subjects)")
			}
		}
		return true
	})
	return out
}

// TestOnlyTheWireFilesBuildSubjects: outside internal/wire, no non-test
// Go file of the module builds or parses a NATS subject by hand (a subject
// piece such as ".gw.", strings.Split or Cut on ".", a byte compared with
// '.', the prefix taken by hand, strings functions on or slicing of a
// message's Subject or Reply, lastDot or replyTokens), and outside
// internal/wire none spells a header name ("Sb-..."), names one
// (wire.Hdr...: headers are read and written only by wire's typed readers
// and writers, e.g. wire.ReadCommand, wire.Reply.Put) or reads the NATS
// status header (Get("Status")): they call the wire functions. The check
// reads the syntax tree, so comments do not count.
func TestOnlyTheWireFilesBuildSubjects(t *testing.T) {
	root := "../.."
	fset := token.NewFileSet()
	var offences []string
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		offences = append(offences, wireOffences(fset, f, strings.HasPrefix(rel, wireDir), strings.HasPrefix(rel, wireDir))...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read %d Go files; the test walks the wrong tree", files)
	}
	for _, o := range offences {
		t.Error(o)
	}
}

// TestWireOffencesFindsEachKind: the check above finds each kind of
// offence it lists in a file outside internal/wire, and none in one
// inside it (without this, a detector that found nothing would pass).
func TestWireOffencesFindsEachKind(t *testing.T) {
	const src = `package p

func lastDot() {}

func f(m *nats.Msg, h nats.Header, s wire.Subjects, b byte, x string) {
	_ = ".gw."
	_ = "Sb-Client"
	_ = wire.HdrWorker
	_ = strings.Split(x, ".")
	_ = strings.HasPrefix(m.Subject, x)
	_ = h.Get("Status")
	_ = s.Prefix()
	_ = m.Subject[1:]
	_ = m.Reply[0]
	_ = b == '.'
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	got := wireOffences(fset, f, false, false)
	for _, want := range []string{
		"func lastDot", `subject piece ".gw."`, `header name "Sb-Client"`, "wire.HdrWorker used",
		`strings.Split on "."`, "strings.HasPrefix on a message's subject", "NATS status header",
		"subject prefix used by hand", "subject sliced", "subject indexed", "compared with '.'",
	} {
		if n := len(slices.DeleteFunc(slices.Clone(got), func(o string) bool { return !strings.Contains(o, want) })); n != 1 {
			t.Errorf("%d offences mention %q, want 1; found:\n%s", n, want, strings.Join(got, "\n"))
		}
	}
	if len(got) != 11 {
		t.Errorf("%d offences, want 11:\n%s", len(got), strings.Join(got, "\n"))
	}
	if got := wireOffences(fset, f, true, true); len(got) != 0 {
		t.Errorf("offences inside internal/wire:\n%s", strings.Join(got, "\n"))
	}
}
