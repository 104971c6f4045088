package check

import (
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/config/configtest"
	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/report"
)

const shiftDocs = `apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: kestra
  labels: {kestra.io/taskrun-id: x, kestra.io/flow-id: f}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  automountServiceAccountToken: false
  initContainers:
    - name: evil
      image: evil.example.com/x:1
      securityContext: {privileged: true, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    - name: ok
      image: trusted.example.com/y:1
      securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
  containers:
    - name: main
      image: trusted.example.com/y:1
      securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
---
apiVersion: kestra-guard.io/v1alpha1
kind: PolicyException
metadata: {name: trusted-priv, namespace: kestra}
spec:
  rules: [no-privileged, no-privilege-escalation]
  reason: the trusted image needs it
  owner: team
  match: {flowId: {exact: f}, images: ["trusted.example.com/y"]}
`

// An exception limited to trusted.example.com/y never waives the privileged
// init container that runs evil.example.com/x, with or without the start
// gate: the gate that mutation puts first shifts the init containers'
// indices, and the exceptions must read the Pod the rules judged (as the
// webhook does), not the one in the file.
func TestExceptionImagesSeeTheMutatedPod(t *testing.T) {
	for _, gate := range []bool{false, true} {
		rs := checkDocs(t, shiftDocs, func(cfg *config.Config) {
			if gate {
				cfg.Policy.StartGate.Enabled, cfg.Policy.StartGate.Image = true, "registry.example.com/kestra-guard:1"
			}
		})
		for _, r := range rs {
			t.Logf("gate=%v allowed=%v violations=%v waived=%v", gate, r.Allowed, r.Violations, r.Waived)
			if r.Allowed {
				t.Errorf("gate=%v: the privileged evil.example.com container was waived by an exception limited to trusted.example.com/y", gate)
			}
		}
	}
}

const volDocs = `apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: kestra
  labels: {kestra.io/taskrun-id: x, kestra.io/flow-id: f}
spec:
  containers:
    - name: main
      image: trusted.example.com/y:1
      volumeMounts: [{name: tools, mountPath: /tools}]
  volumes:
    - name: tools
      image: {reference: evil.example.com/tools:1}
---
apiVersion: kestra-guard.io/v1alpha1
kind: PolicyException
metadata: {name: trusted-registry, namespace: kestra}
spec:
  rules: [allowed-registries]
  reason: the trusted image is mirrored
  owner: team
  match: {flowId: {exact: f}, images: ["trusted.example.com/y"]}
`

// An image volume is an image: an exception limited to the container's
// image does not waive allowed-registries on a volume from another
// registry (exception.Apply, which the webhook shares).
func TestExceptionImagesCoverImageVolumes(t *testing.T) {
	rs := checkDocs(t, volDocs, func(cfg *config.Config) {
		cfg.Policy.AllowedRegistries = []string{"internal.example.com"}
		cfg.Policy.Rules = map[string]policy.Action{"allowed-registries": "deny"}
	})
	if len(rs) != 1 || rs[0].Allowed {
		t.Fatalf("want the Pod refused for its image volume, got %+v", rs)
	}
	for _, r := range rs {
		t.Logf("violations=%v waived=%v", r.Violations, r.Waived)
		for _, w := range r.Waived {
			if w.Field == "spec.volumes[0].image.reference" {
				t.Errorf("the image volume evil.example.com/tools was waived by an exception limited to trusted.example.com/y")
			}
		}
	}
}

// checkDocs is what check says of the YAML documents docs under the default
// configuration changed by mod.
func checkDocs(t *testing.T, docs string, mod func(*config.Config)) []report.Result {
	t.Helper()
	objs, err := input.Parse("in.yaml", []byte(docs))
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := Objects(configtest.Compiled(t, mod), objs, Options{})
	return rs
}
