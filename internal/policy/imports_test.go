package policy

import (
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// policy is the leaf every command decides through: it imports no other
// package of the project, so the import graph stays acyclic and the rules
// stay pure functions over plain data. The exception is internal/gate, the
// start gate whose configuration policy validates, which imports only the
// standard library (TestLeavesAreLeaves).
func TestPolicyIsALeaf(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/kestra-guard/kestra-guard/") && !slices.Contains(leaves, strings.TrimPrefix(path, "github.com/kestra-guard/kestra-guard/")) {
				t.Errorf("%s imports %s: internal/policy must import no other package of the project", f, path)
			}
		}
	}
}

// leaves are the packages of the project policy may import.
var leaves = []string{"internal/gate"}

// The packages policy may import import only the standard library.
func TestLeavesAreLeaves(t *testing.T) {
	var files []string
	for _, l := range leaves {
		fs, err := filepath.Glob("../../" + l + "/*.go")
		if err != nil || len(fs) == 0 {
			t.Fatalf("listing %s: %v, %d files", l, err, len(fs))
		}
		files = append(files, fs...)
	}
	for _, f := range files {
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(strings.SplitN(path, "/", 2)[0], ".") {
				t.Errorf("%s imports %s: a package policy imports must import only the standard library", f, path)
			}
		}
	}
}

// The import graph in docs/architecture.md is the one the code has: every
// package of cmd/ and internal/ is listed once, with the project packages
// its non-test files import.
func TestArchitectureGraph(t *testing.T) {
	const module = "github.com/kestra-guard/kestra-guard/"
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	_, graph, ok := strings.Cut(string(doc), "## Packages and the import direction")
	_, graph, ok2 := strings.Cut(graph, "```\n")
	graph, _, ok3 := strings.Cut(graph, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/architecture.md: no import graph (a ``` block under \"## Packages and the import direction\")")
	}
	documented := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(graph), "\n") {
		if i := strings.Index(line, " ("); i >= 0 {
			line = line[:i] // a comment
		}
		var names, imports []string
		if from, to, ok := strings.Cut(line, "──>"); ok {
			names = []string{strings.TrimSpace(from)}
			imports = strings.Split(strings.ReplaceAll(to, " ", ""), ",")
		} else if from, ok := strings.CutSuffix(line, ": no project imports"); ok {
			names = strings.Split(strings.ReplaceAll(from, " ", ""), ",")
		} else {
			t.Fatalf("docs/architecture.md: cannot read the graph line %q", line)
		}
		for _, n := range names {
			if _, dup := documented[n]; dup {
				t.Errorf("docs/architecture.md lists %s twice", n)
			}
			slices.Sort(imports)
			documented[n] = imports
		}
	}
	actual := map[string][]string{}
	dirs, err := filepath.Glob("../../internal/*")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("../../internal/apis/*")
	dirs = append(append(dirs, more...), "../../cmd/kestra-guard")
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		name := strings.TrimPrefix(filepath.ToSlash(dir), "../../")
		if !strings.HasPrefix(name, "cmd/") {
			name = strings.TrimPrefix(name, "internal/")
		}
		imports := map[string]bool{}
		n := 0
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			n++
			ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range ast.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if rest, ok := strings.CutPrefix(path, module); ok {
					imports[strings.TrimPrefix(rest, "internal/")] = true
				}
			}
		}
		if n > 0 {
			actual[name] = slices.Sorted(maps.Keys(imports))
		}
	}
	for name, imports := range actual {
		doc, ok := documented[name]
		switch {
		case !ok:
			t.Errorf("docs/architecture.md's import graph lacks %s (imports %v)", name, imports)
		case !slices.Equal(doc, imports) && !(len(doc) == 0 && len(imports) == 0):
			t.Errorf("docs/architecture.md: %s ──> %v, but it imports %v", name, doc, imports)
		}
	}
	for name := range documented {
		if _, ok := actual[name]; !ok {
			t.Errorf("docs/architecture.md's import graph lists %s, which is no package", name)
		}
	}
}
