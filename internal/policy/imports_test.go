package policy

import (
	"go/parser"
	"go/token"
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
