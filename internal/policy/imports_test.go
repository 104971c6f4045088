package policy

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// policy is the leaf every command decides through: it imports no other
// package of the project, so the import graph stays acyclic and the rules
// stay pure functions over plain data. The one exception is internal/jsonw,
// a JSON string writer that itself imports only the standard library
// (TestJSONWIsALeaf).
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
			if strings.HasPrefix(path, "github.com/kestra-guard/kestra-guard/") && path != "github.com/kestra-guard/kestra-guard/internal/jsonw" {
				t.Errorf("%s imports %s: internal/policy must import no other package of the project", f, path)
			}
		}
	}
}

// jsonw, which policy may import, imports only the standard library.
func TestJSONWIsALeaf(t *testing.T) {
	files, err := filepath.Glob("../jsonw/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("listing internal/jsonw: %v, %d files", err, len(files))
	}
	for _, f := range files {
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(strings.SplitN(path, "/", 2)[0], ".") {
				t.Errorf("%s imports %s: internal/jsonw must import only the standard library", f, path)
			}
		}
	}
}
