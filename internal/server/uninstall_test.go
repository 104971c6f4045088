package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/audit"
	"github.com/kestra-guard/kestra-guard/internal/chart"
	"github.com/kestra-guard/kestra-guard/internal/managed"
)

// The chart README names, with the exact command, every object the server
// creates that `helm uninstall` leaves behind: the names and labels in the
// commands are those the code uses.
func TestUninstallLeftoversAreDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chart.Dir(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	byLabel := " -A -l " + managed.ManagedByLabel + "=kestra-guard" // the value both set
	for _, want := range []string{
		"kubectl delete policyreports.wgpolicyk8s.io" + byLabel,
		"PolicyReports `" + audit.ReportName + "`",
		"kubectl -n kestra-guard delete lease " + LeaderElectionID,
		"kubectl delete networkpolicy" + byLabel,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("charts/kestra-guard/README.md lacks %q", want)
		}
	}
}
