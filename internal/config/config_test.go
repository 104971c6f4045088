package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// policy.rules.<id>: off is accepted however YAML spells it: YAML 1.1 reads
// an unquoted off (or no) as the boolean false.
func TestRuleOffHoweverYAMLSpellsIt(t *testing.T) {
	for name, tc := range map[string]struct {
		doc     string
		want    policy.Action
		wantErr string
	}{
		"unquoted off":    {"policy: {rules: {no-host-path: off}}", policy.Off, ""},
		"unquoted Off":    {"policy:\n  rules:\n    no-host-path: Off\n", policy.Off, ""},
		"quoted off":      {`policy: {rules: {no-host-path: "off"}}`, policy.Off, ""},
		"false":           {"policy: {rules: {no-host-path: false}}", policy.Off, ""},
		"no":              {"policy: {rules: {no-host-path: no}}", policy.Off, ""},
		"JSON false":      {`{"policy": {"rules": {"no-host-path": false}}}`, policy.Off, ""},
		"warn":            {"policy: {rules: {no-host-path: warn}}", policy.Warn, ""},
		"on is no action": {"policy: {rules: {no-host-path: on}}", "", `policy.rules.no-host-path: action "true": expected deny, warn or off`},
		"a number":        {"policy: {rules: {no-host-path: 1}}", "", `policy.rules.no-host-path: action "1"`},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.doc), "test")
			if err == nil {
				err = cfg.Validate()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Policy.Rules["no-host-path"]; got != tc.want {
				t.Errorf("action = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLogLevel(t *testing.T) {
	cfg := Default()
	cfg.Server.LogLevel = "verbose"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `server.logLevel: "verbose"`) {
		t.Errorf("error = %v", err)
	}
}

// managedNetworkPolicy.allowedCIDRs is validated with the rest, so check and
// audit refuse what serve refuses, and a range overlapping a metadata range
// (which would make the managed policy open what the egress rule forbids) is
// refused.
func TestAllowedCIDRs(t *testing.T) {
	for name, tc := range map[string]struct {
		cidrs   []string
		wantErr string
	}{
		"private ranges":        {[]string{"10.0.0.0/8", "fd00:1::/64"}, ""},
		"not a CIDR":            {[]string{"10.0.0.0/8", "nope"}, `managedNetworkPolicy.allowedCIDRs[1]: "nope": expected a CIDR`},
		"inside link-local":     {[]string{"169.254.169.0/24"}, `managedNetworkPolicy.allowedCIDRs[0]: "169.254.169.0/24" overlaps the metadata range 169.254.0.0/16`},
		"around a metadata /32": {[]string{"100.64.0.0/10"}, "overlaps the metadata range 100.100.100.200/32"},
		"everything":            {[]string{"0.0.0.0/0"}, "overlaps the metadata range"},
		"IPv4-mapped":           {[]string{"::ffff:169.254.0.0/112"}, "overlaps the metadata range 169.254.0.0/16"},
		"IPv6 link-local":       {[]string{"fe80::/64"}, "overlaps the metadata range fe80::/10"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := Default()
			cfg.ManagedNetworkPolicy.AllowedCIDRs = tc.cidrs
			wantValid(t, cfg, tc.wantErr)
		})
	}
}

// runnerNamespaces may not name a namespace kestra-guard never intercepts
// (it would look guarded and not be), nor something that is no namespace
// name; every bad entry is named at once.
func TestRunnerNamespaces(t *testing.T) {
	for name, tc := range map[string]struct {
		namespaces []string
		wantErr    []string
	}{
		"runner namespaces": {[]string{"kestra-runners", "etl"}, nil},
		"kube-system":       {[]string{"etl", "kube-system"}, []string{`runnerNamespaces[1]: "kube-system" is never intercepted`}},
		"its own namespace": {[]string{"kestra-guard"}, []string{`runnerNamespaces[0]: "kestra-guard" is kestra-guard's own namespace (namespace), which is never intercepted`}},
		"not a name":        {[]string{"Kestra Runners"}, []string{`runnerNamespaces[0]: "Kestra Runners": expected a namespace name`}},
		"all at once": {[]string{"kube-system", "ok", "kestra-guard"},
			[]string{`runnerNamespaces[0]: "kube-system"`, `runnerNamespaces[2]: "kestra-guard"`}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := Default()
			cfg.Namespace = "kestra-guard"
			cfg.RunnerNamespaces = tc.namespaces
			err := cfg.Validate()
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			for _, want := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want %q", err, want)
				}
			}
		})
	}
}

// Compile returns what serve, check and audit share: the allowed CIDRs
// parsed once (masked, IPv4-mapped read as IPv4), the scope and the managed
// policy's specs, the label-selected one selecting task runners only.
func TestCompile(t *testing.T) {
	cfg := Default()
	cfg.ManagedNetworkPolicy.AllowedCIDRs = []string{" 10.1.2.3/8", "::ffff:192.168.0.0/112"}
	c, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.AllowedCIDRs); got != "[10.0.0.0/8 192.168.0.0/16]" {
		t.Errorf("AllowedCIDRs = %s", got)
	}
	specs := c.Managed
	if fmt.Sprint(specs.For(true).AllowedCIDRs) != "[10.0.0.0/8 192.168.0.0/16]" || fmt.Sprint(specs.For(false).AllowedCIDRs) != "[10.0.0.0/8 192.168.0.0/16]" {
		t.Errorf("Compiled.Managed = %+v, want the parsed allowed CIDRs", specs)
	}
	if !reflect.DeepEqual(specs.For(true).Metadata, c.Engine.Options().Metadata) || !reflect.DeepEqual(specs.For(true).DNS, c.Engine.Options().DNS) {
		t.Errorf("Compiled.Managed = %+v, want the engine's metadata ranges and DNS", specs)
	}
	// Parsed once: the specs hold the very values Compile parsed (the same
	// arrays), not a second parse of the raw lists.
	if &specs.For(false).AllowedCIDRs[0] != &c.AllowedCIDRs[0] || &specs.For(true).Metadata[0] != &c.Engine.Options().Metadata[0] {
		t.Errorf("Compiled.Managed holds a second parse of allowedCIDRs or metadataCIDRs")
	}
	if got := specs.For(false).Selector.MatchExpressions; len(got) != 1 || got[0].Key != "kestra.io/taskrun-id" {
		t.Errorf("label-selected spec selects %v, want the task-runner selector", got)
	}
	if got := specs.For(true).Selector; len(got.MatchLabels)+len(got.MatchExpressions) != 0 {
		t.Errorf("runner-namespace spec selects %v, want every Pod", got)
	}
	if len(specs.For(true).Metadata) == 0 || !c.Scope.Pod(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}, map[string]string{"kestra.io/taskrun-id": "x"}).Guarded {
		t.Errorf("compiled without metadata ranges or scope: %+v", specs)
	}
}

// The mode and the selector are validated in one place (scope.New): each
// bad one is reported once, with the rest of the configuration's errors.
func TestModeAndSelectorReportedOnce(t *testing.T) {
	cfg := Default()
	cfg.Mode, cfg.TaskRunnerSelector, cfg.Server.Port = "Enforce", "a in (b", 0
	err := cfg.Validate()
	if err == nil {
		t.Fatal("an unknown mode and a bad selector were accepted")
	}
	for _, want := range []string{`mode: "Enforce": expected enforce, audit or off`, `taskRunnerSelector: "a in (b": expected a label selector`, "server.port: 0"} {
		if n := strings.Count(err.Error(), want); n != 1 {
			t.Errorf("%q reported %d times, want once:\n%v", want, n, err)
		}
	}
}

// The audit's page size and pace are bounded, and a bad value is named.
func TestAuditPaging(t *testing.T) {
	for name, tc := range map[string]struct {
		pageSize, perSecond int
		wantErr             string
	}{
		"defaults":       {100, 10, ""},
		"not paced":      {500, 0, ""},
		"no page":        {0, 10, "audit.pageSize: 0: expected 1 to 5000"},
		"huge page":      {5001, 10, "audit.pageSize: 5001: expected 1 to 5000"},
		"negative pace":  {100, -1, "audit.listsPerSecond: -1: expected 0 (not paced) to 1000"},
		"unbounded pace": {100, 1001, "audit.listsPerSecond: 1001"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := Default()
			cfg.Audit.PageSize, cfg.Audit.ListsPerSecond = tc.pageSize, tc.perSecond
			wantValid(t, cfg, tc.wantErr)
		})
	}
	// A file (the chart's before these keys, or a hand-written one) that
	// leaves them out keeps the defaults.
	cfg, err := Parse([]byte("audit: {enabled: true, interval: 10m}\n"), "old.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("a file without audit.pageSize and audit.listsPerSecond: %v", err)
	}
	if a := cfg.Audit; a.PageSize != 100 || a.ListsPerSecond != 10 {
		t.Errorf("a file without them: pageSize %d, listsPerSecond %d; want the defaults 100 and 10", a.PageSize, a.ListsPerSecond)
	}
	if d := Default().Audit; d.PageSize != 100 || d.ListsPerSecond != 10 {
		t.Errorf("defaults: pageSize %d, listsPerSecond %d; want 100 and 10 (the chart and README say so)", d.PageSize, d.ListsPerSecond)
	}
}

// wantValid checks that cfg validates, or, with wantErr, that its error
// says wantErr.
func wantValid(t *testing.T, cfg Config, wantErr string) {
	t.Helper()
	err := cfg.Validate()
	if wantErr == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Fatalf("error %v, want %q", err, wantErr)
	}
}
