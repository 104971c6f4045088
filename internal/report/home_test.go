package report

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The result types and the output formats have one home: audit takes its
// result type from report, not from check, and no other package writes
// XML (JUnit) or SARIF.
func TestOneHomeForResultsAndFormats(t *testing.T) {
	files, err := filepath.Glob("../*/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("listing internal/: %v", err)
	}
	for _, f := range files {
		pkg := filepath.Base(filepath.Dir(f))
		if pkg == "report" || strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case path == "encoding/xml":
				t.Errorf("%s imports encoding/xml: output formats belong in internal/report", f)
			case pkg == "audit" && strings.HasSuffix(path, "/internal/check"):
				t.Errorf("%s imports internal/check: audit takes its result type from internal/report", f)
			}
		}
	}
}
