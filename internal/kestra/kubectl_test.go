package kestra

import (
	"slices"
	"strings"
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// Each kubectl task is judged as a user reads the finding: the rule, the
// field, a detail that names the task and the fix, or a note for a kind
// that cannot matter. An empty rule means allowed.
func TestKubectlTasks(t *testing.T) {
	for name, tc := range map[string]struct {
		task                string
		rule, field, detail string
		note                string
		off                 string // a rule switched off
	}{
		"json patch adds an allow-all rule": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Patch, resourceType: networkpolicies, resourceName: np, patchStrategy: JSON_PATCH,
				patch: '[{"op": "add", "path": "/spec/egress/-", "value": {}}]'}`,
			rule: "metadata-egress-blocked", field: "tasks[0].patch[0].spec.egress[0]", detail: `allows egress to every address`,
		},
		"json patch writes part of an ipBlock": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Patch, resourceType: networkpolicy, resourceName: np, patchStrategy: JSON_PATCH,
				patch: '[{"op": "replace", "path": "/spec/egress/0/to/0/ipBlock/cidr", "value": "10.0.0.0/8"}]'}`,
			rule: "metadata-egress-blocked", field: "tasks[0].patch[0]", detail: `write the whole egress list`,
		},
		"json patch removes an except": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Patch, resourceType: networkpolicy, resourceName: np, patchStrategy: JSON_PATCH,
				patch: '[{"op": "remove", "path": "/spec/egress/0/to/0/ipBlock/except"}]'}`,
			rule: "metadata-egress-blocked", field: "tasks[0].patch[0]", detail: `task "k"`,
		},
		"json patch removes a whole rule": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Patch, resourceType: networkpolicy, resourceName: np, patchStrategy: JSON_PATCH,
				patch: '[{"op": "remove", "path": "/spec/egress/1"}]'}`,
		},
		"merge patch changes only the podSelector": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Patch, resourceType: networkpolicy, resourceName: np,
				patch: '{"spec": {"podSelector": {}}}'}`,
			rule: "metadata-egress-blocked", field: "tasks[0].patch.spec.podSelector", detail: `without writing the rules`,
		},
		"merge patch keeps the except": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Patch, resourceType: networkpolicy, resourceName: np, patchStrategy: JSON_MERGE,
				patch: '{"spec": {"egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16", "168.63.129.16/32", "100.100.100.200/32", "192.0.0.192/32"]}}]}]}}'}`,
		},
		"applied policy with a templated cidr": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Apply, spec: "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: np}\nspec: {podSelector: {}, egress: [{to: [{ipBlock: {cidr: '{{ inputs.cidr }}'}}]}]}"}`,
			rule: "metadata-egress-blocked", field: "tasks[0].spec(document 1).spec.egress[0].to[0].ipBlock.cidr", detail: `a template Kestra renders at run time`,
		},
		"applied policy with a templated name": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Apply, spec: "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: '{{ inputs.n }}'}\nspec: {podSelector: {}}"}`,
			rule: GuardObjectRule, field: "tasks[0].spec(document 1).metadata.name", detail: `it may be kestra-guard-block-metadata`,
		},
		"allow-all egress with the rule off": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Apply, spec: "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: np}\nspec: {podSelector: {}, egress: [{}]}"}`,
			off:  "metadata-egress-blocked",
		},
		"webhook configuration": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Apply, spec: "kind: ValidatingWebhookConfiguration\napiVersion: admissionregistration.k8s.io/v1\nmetadata: {name: w}"}`,
			rule: GuardObjectRule, field: "tasks[0].spec(document 1)", detail: `webhook configurations and admission policies`,
		},
		"custom resource": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Apply, spec: "kind: Shirt\napiVersion: stable.example.com/v1\nmetadata: {name: s}\nspec: {ip: 169.254.169.254}"}`,
			rule: "no-metadata-address", field: "tasks[0].spec(document 1).spec.ip", note: `task "k" applies Shirt "s", which cannot change what kestra-guard decides`,
		},
		"patched exception": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Patch, resourceType: policyexceptions, apiGroup: kestra-guard.io, resourceName: e, patch: '{}'}`,
			rule: GuardObjectRule, field: "tasks[0].resourceType", detail: `a PolicyException waives rules`,
		},
		"templated resource type": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Patch, resourceType: "{{ inputs.kind }}", resourceName: e, patch: '{}'}`,
			rule: StaticRule, field: "tasks[0].resourceType", detail: `which kind the task changes`,
		},
		"copy into a Pod's spec": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Patch, resourceType: pod, resourceName: p, patchStrategy: JSON_PATCH,
				patch: '[{"op": "copy", "from": "/metadata/annotations/x", "path": "/spec/hostNetwork"}]'}`,
			rule: StaticRule, field: "tasks[0].patch[0]", detail: `copies /metadata/annotations/x to /spec/hostNetwork`,
		},
		"merge patch drops a Pod's labels": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Patch, resourceType: pod, resourceName: p, patchStrategy: JSON_MERGE, patch: '{"metadata": {"labels": null}}'}`,
			rule: GuardObjectRule, field: "tasks[0].patch.metadata", detail: `taskRunnerSelector (kestra.io/taskrun-id)`,
		},
		"json patch replaces a Namespace's labels": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Patch, resourceType: namespace, resourceName: n, patchStrategy: JSON_PATCH,
				patch: '[{"op": "replace", "path": "/metadata/labels", "value": {"team": "a"}}]'}`,
			rule: GuardObjectRule, field: "tasks[0].patch[0]", detail: `replaces /metadata/labels of a Namespace`,
		},
		"json patch on a CronJob's template": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Patch, resourceType: cronjobs, apiGroup: batch, resourceName: c, patchStrategy: JSON_PATCH,
				patch: '[{"op": "add", "path": "/spec/jobTemplate/spec/template/spec/volumes/0", "value": {"name": "d", "hostPath": {"path": "/"}}}]'}`,
			rule: "no-host-path", field: "tasks[0].patch[0].spec.jobTemplate.spec.template.spec.volumes[0].hostPath.path", detail: `mounts host path "/"`,
		},
		"unknown operation": {
			task: `{type: io.kestra.plugin.kubernetes.kubectl.Patch, resourceType: deployment, apiGroup: apps, resourceName: d, patchStrategy: JSON_PATCH,
				patch: '[{"op": "merge", "path": "/spec", "value": {}}]'}`,
			rule: StaticRule, field: "tasks[0].patch[0]", detail: `unknown JSON patch operation "merge"`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := policy.DefaultConfig()
			if tc.off != "" {
				cfg.Rules = map[string]policy.Action{tc.off: policy.Off}
			}
			e, err := policy.NewEngine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			task, err := input.ParseFlow([]byte(tc.task))
			if err != nil {
				t.Fatal(err)
			}
			task["id"] = "k"
			vs, notes := Flow(e, testScope(t), map[string]any{"id": "f", "namespace": "n", "tasks": []any{task}})
			if tc.rule == "" {
				if len(vs) != 0 {
					t.Errorf("want allowed, got %v", vs)
				}
			} else if !slices.ContainsFunc(vs, func(v policy.Violation) bool {
				return v.Rule == tc.rule && v.Field == tc.field && v.Action == policy.Deny && strings.Contains(v.Detail, tc.detail)
			}) {
				t.Errorf("want a denial %s at %s with a detail holding %q, got:\n%v", tc.rule, tc.field, tc.detail, vs)
			}
			if tc.note != "" && !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, tc.note) }) {
				t.Errorf("want a note holding %q, got %q", tc.note, notes)
			}
		})
	}
}
