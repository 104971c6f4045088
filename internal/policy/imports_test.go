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
// stay pure functions over plain data.
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
			if strings.HasPrefix(path, "github.com/kestra-guard/kestra-guard/") {
				t.Errorf("%s imports %s: internal/policy must import no other package of the project", f, path)
			}
		}
	}
}
