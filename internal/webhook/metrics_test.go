package webhook

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Every webhook's error count is exported at 0 from the start, so that the
// first error is an increase that rate() and the alerts see.
func TestErrorsStartAtZero(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	NewMetrics(reg)
	want := `# HELP kestra_guard_admission_decisions_total Admission decisions by webhook and outcome.
# TYPE kestra_guard_admission_decisions_total counter
kestra_guard_admission_decisions_total{outcome="error",webhook="mutate"} 0
kestra_guard_admission_decisions_total{outcome="error",webhook="networkpolicy"} 0
kestra_guard_admission_decisions_total{outcome="error",webhook="validate"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kestra_guard_admission_decisions_total"); err != nil {
		t.Error(err)
	}
}
