package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// check --rules-version judges by an older rule set, exits on its denials
// only, and lists what latest would deny on top.
func TestCheckRulesVersion(t *testing.T) {
	const pod = "kind: Pod\nmetadata: {name: p, namespace: runners, labels: {kestra.io/taskrun-id: x}}\n" +
		"spec: {hostUsers: false, containers: [{name: main, image: busybox, securityContext: {procMount: Unmasked}}]}\n"
	const flow = "id: f\nnamespace: team\ntasks:\n- id: t\n  type: io.kestra.plugin.kubernetes.core.PodCreate\n" +
		"  spec: {hostUsers: false, containers: [{name: c, image: busybox, securityContext: {procMount: Unmasked}}]}\n"
	for name, tc := range map[string]struct {
		args        []string
		stdin       string
		code        int
		contains    []string
		notContains []string
	}{
		"latest refuses the Pod": {[]string{"check", "-"}, pod, 1,
			[]string{"Pod runners/p: no-unmasked-proc: spec.containers[0].securityContext.procMount: unmasked /proc is forbidden (deny: "},
			[]string{"latest would deny"}},
		"v0.1.0 admits it and says what latest would deny": {[]string{"check", "--rules-version", "v0.1.0", "-"}, pod, 0,
			[]string{"Pod runners/p: latest would deny (judged by the rules of v0.1.0): no-unmasked-proc: spec.containers[0].securityContext.procMount: unmasked /proc is forbidden",
				"1 objects: 1 allowed, 0 denied"},
			nil},
		"the next version is latest today": {[]string{"check", "--rules-version", policy.NextVersion, "-"}, pod, 1,
			[]string{"no-unmasked-proc: spec.containers[0].securityContext.procMount"}, []string{"latest would deny"}},
		"json names the version": {[]string{"check", "-o", "json", "--rules-version", "v0.1.0", "-"}, pod, 0,
			[]string{`"rulesVersion": "v0.1.0"`, `"latestWouldDeny": [`, `"rule": "no-unmasked-proc"`}, nil},
		"a flow at v0.1.0": {[]string{"check", "--rules-version", "v0.1.0", "-"}, flow, 0,
			[]string{"<stdin>:6: Flow team/f: latest would deny (judged by the rules of v0.1.0): no-unmasked-proc: tasks[0].spec.containers[0].securityContext.procMount"}, nil},
		"an unknown version is a configuration error": {[]string{"check", "--rules-version", "v0.1", "-"}, pod, 2,
			[]string{`policy.ruleSetVersion: "v0.1": expected latest, v0.1.0, ` + policy.NextVersion}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := execute(t, tc.stdin, nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; output:\n%s%s", code, tc.code, out, errOut)
			}
			for _, want := range tc.contains {
				if !strings.Contains(out+errOut, want) {
					t.Errorf("output lacks %q:\n%s%s", want, out, errOut)
				}
			}
			for _, no := range tc.notContains {
				if strings.Contains(out+errOut, no) {
					t.Errorf("output has %q:\n%s%s", no, out, errOut)
				}
			}
		})
	}
}

// rules says which version added each rule, and under a configuration
// pinned to v0.1.0 a later rule's action is off.
func TestRulesSince(t *testing.T) {
	code, out, errOut := execute(t, "", nil, "rules", "-o", "json")
	if code != 0 || !strings.Contains(out, `"since": "v0.1.0"`) || !strings.Contains(out, `"since": "`+policy.NextVersion+`"`) {
		t.Errorf("rules -o json: exit %d:\n%s%s", code, out, errOut)
	}
	file := t.TempDir() + "/config.yaml"
	if err := os.WriteFile(file, []byte("policy:\n  ruleSetVersion: v0.1.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = execute(t, "", nil, "rules", "--config", file)
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "no-unmasked-proc ") {
			line = strings.Join(strings.Fields(l), " ")
		}
	}
	if code != 0 || !strings.HasPrefix(line, "no-unmasked-proc off deny ") || !strings.HasSuffix(line, policy.NextVersion) {
		t.Errorf("rules at v0.1.0: exit %d, no-unmasked-proc line %q:\n%s%s", code, line, out, errOut)
	}
}
