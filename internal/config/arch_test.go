package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// sources are the non-test Go files of the project's packages (internal/*,
// cmd/*), by package folder relative to the module root.
func sources(t *testing.T) map[string][]*ast.File {
	t.Helper()
	var files []string
	for _, pattern := range []string{"../../internal/*/*.go", "../../internal/*/*/*.go", "../../cmd/*/*.go"} {
		fs, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	out := map[string][]*ast.File{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		pkg := strings.TrimPrefix(filepath.ToSlash(filepath.Dir(f)), "../../")
		out[pkg] = append(out[pkg], file)
	}
	if len(out["internal/check"]) == 0 || len(out["internal/audit"]) == 0 || len(out["internal/webhook"]) == 0 {
		t.Fatalf("the sources of check, audit and webhook were not found: %d packages", len(out))
	}
	return out
}

// calls lists, in files, every call of a method or qualified function
// as "x.Name/nargs" (x the identifier before the dot, or "_" for a longer
// expression), and every call of a plain function as "Name/nargs".
func calls(files []*ast.File) []string {
	var out []string
	for _, f := range files {
		ast.Inspect(f, func(node ast.Node) bool {
			c, ok := node.(*ast.CallExpr)
			if !ok {
				return true
			}
			n := "/" + strconv.Itoa(len(c.Args))
			switch fun := c.Fun.(type) {
			case *ast.SelectorExpr:
				x := "_"
				if id, ok := fun.X.(*ast.Ident); ok {
					x = id.Name
				}
				out = append(out, x+"."+fun.Sel.Name+n)
			case *ast.Ident:
				out = append(out, fun.Name+n)
			}
			return true
		})
	}
	return out
}

// count is how many of calls are of name: ".Compile/0" is any receiver's
// Compile without arguments, ".Pod/" any receiver's Pod, "scope.New" the
// function New of package scope with any arguments.
func count(calls []string, name string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(name, ".") && strings.Contains(c, name) || strings.HasPrefix(c, name+"/") {
			n++
		}
	}
	return n
}

func imports(files []*ast.File, path string) bool {
	for _, f := range files {
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == path {
				return true
			}
		}
	}
	return false
}

// The configuration is compiled once, by the command, and handed down:
// Compile() is called in one place of the CLI (cli.compile, which serve,
// check, audit, mutate and rules share) and nowhere else (check and audit
// take *config.Compiled); only config builds the engine and the scope.
func TestCompiledOnce(t *testing.T) {
	for pkg, files := range sources(t) {
		// configtest compiles for tests what the commands compile.
		if pkg == "internal/config" || pkg == "internal/config/configtest" {
			continue
		}
		for _, f := range files {
			for _, imp := range f.Imports {
				if imp.Path.Value == `"github.com/kestra-guard/kestra-guard/internal/config/configtest"` {
					t.Errorf("%s imports configtest outside its tests: compile with the command's configuration", pkg)
				}
			}
		}
		cs := calls(files)
		want := 0
		if pkg == "internal/cli" {
			want = 1
		}
		if n := count(cs, ".Compile/0"); n != want {
			t.Errorf("%s calls Compile() %d times, want %d: the configuration is compiled once by the command and handed down as *config.Compiled", pkg, n, want)
		}
		for _, name := range []string{"policy.NewEngine", "scope.New"} {
			if n := count(cs, name); n != 0 {
				t.Errorf("%s calls %s %d times: use the compiled configuration's", pkg, name, n)
			}
		}
	}
}

// "Does kestra-guard guard this Pod here" has one answer, scope's Pod:
// the webhooks, check and audit call it, and none of them matches the
// task-runner selector itself (reads taskRunnerSelector or imports the
// label-selector package; the audit narrows its list requests with
// scope.ListSelector and still asks scope.Pod of each Pod). "Is the managed policy as it should be" has one
// answer, managed.UpToDate: no other package compares objects with
// k8s.io/apimachinery's equality.
func TestOneHomePerQuestion(t *testing.T) {
	src := sources(t)
	for _, pkg := range []string{"internal/webhook", "internal/check", "internal/audit"} {
		files := src[pkg]
		if count(calls(files), ".Pod/") == 0 {
			t.Errorf("%s does not ask scope.Pod whether a Pod is guarded", pkg)
		}
		if imports(files, "k8s.io/apimachinery/pkg/labels") {
			t.Errorf("%s imports k8s.io/apimachinery/pkg/labels: only scope matches the task-runner selector", pkg)
		}
		for _, f := range files {
			ast.Inspect(f, func(node ast.Node) bool {
				if s, ok := node.(*ast.SelectorExpr); ok && s.Sel.Name == "TaskRunnerSelector" {
					t.Errorf("%s reads taskRunnerSelector: only scope decides which Pods are task runners", pkg)
				}
				return true
			})
		}
	}
	for pkg, files := range src {
		// policy compares its own configuration (the start gate's) with it.
		if !slices.Contains([]string{"internal/managed", "internal/policy"}, pkg) && imports(files, "k8s.io/apimachinery/pkg/api/equality") {
			t.Errorf("%s imports k8s.io/apimachinery/pkg/api/equality: whether the managed policy is up to date is managed.UpToDate's answer", pkg)
		}
	}
}
