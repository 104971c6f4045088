package exception

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// kestraWorker is the request of a Kestra worker's ServiceAccount.
var kestraWorker = &Requester{User: "system:serviceaccount:kestra:kestra-worker", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kestra", "system:authenticated"}}

func waive(rule string, values ...string) func(*v1alpha1.PolicyException) {
	return func(e *v1alpha1.PolicyException) {
		e.Spec.Waive = append(e.Spec.Waive, v1alpha1.RuleWaiver{Rule: v1alpha1.RuleID(rule), Values: values})
	}
}

// evaluate runs the real rules on pod, so that the values compared are the
// ones the rules set.
func evaluate(t *testing.T, pod *corev1.Pod, opts func(*policy.Config)) []policy.Violation {
	t.Helper()
	cfg := policy.DefaultConfig()
	if opts != nil {
		opts(&cfg)
	}
	e, err := policy.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e.Evaluate(&policy.Input{Pod: pod}).Violations
}

func ofRule(vs []policy.Violation, rule string) []policy.Violation {
	var out []policy.Violation
	for _, v := range vs {
		if v.Rule == rule {
			out = append(out, v)
		}
	}
	return out
}

func fields(vs []policy.Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Field)
	}
	return out
}

// A narrow exception waives the values it names and nothing else the rule
// finds on the same Pod.
func TestNarrowExceptions(t *testing.T) {
	hostPaths := func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{
			{Name: "backup", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/mnt/backup/"}}},
			{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}},
		}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "backup", MountPath: "/backup", ReadOnly: true}, {Name: "root", MountPath: "/host"}}
	}
	caps := func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{
			Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_ADMIN", "SYS_ADMIN"}}}
		p.Spec.Containers[1].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}
	}
	registries := func(c *policy.Config) {
		c.AllowedRegistries = []string{"ghcr.io/company"}
		c.Rules = map[string]policy.Action{policy.AllowedRegistriesID: policy.Deny}
	}
	tests := map[string]struct {
		pod        func(*corev1.Pod)
		cfg        func(*policy.Config)
		rule       string
		exc        func(*v1alpha1.PolicyException)
		wantWaived []string
		wantLeft   []string
	}{
		"one hostPath named: / with root still denied": {
			pod: hostPaths, rule: policy.NoHostPathID, exc: waive(policy.NoHostPathID, "/mnt/backup"),
			wantWaived: []string{"spec.volumes[0].hostPath.path"}, wantLeft: []string{"spec.volumes[1].hostPath.path"},
		},
		"hostPath compared after cleaning": {
			pod: hostPaths, rule: policy.NoHostPathID, exc: waive(policy.NoHostPathID, "/mnt//backup/./"),
			wantWaived: []string{"spec.volumes[0].hostPath.path"}, wantLeft: []string{"spec.volumes[1].hostPath.path"},
		},
		"a parent of the path is not the path": {
			pod: hostPaths, rule: policy.NoHostPathID, exc: waive(policy.NoHostPathID, "/mnt"),
			wantLeft: []string{"spec.volumes[0].hostPath.path", "spec.volumes[1].hostPath.path"},
		},
		"broad form waives every hostPath": {
			pod: hostPaths, rule: policy.NoHostPathID, exc: waive(policy.NoHostPathID),
			wantWaived: []string{"spec.volumes[0].hostPath.path", "spec.volumes[1].hostPath.path"},
		},
		"rules list is the broad form": {
			pod: hostPaths, rule: policy.NoHostPathID, exc: func(e *v1alpha1.PolicyException) { e.Spec.Rules = []v1alpha1.RuleID{policy.NoHostPathID} },
			wantWaived: []string{"spec.volumes[0].hostPath.path", "spec.volumes[1].hostPath.path"},
		},
		"one capability named: the next one and a missing drop still denied": {
			pod: caps, rule: policy.DropAllCapabilitiesID, exc: waive(policy.DropAllCapabilitiesID, "cap_net_admin"),
			wantWaived: []string{"spec.containers[0].securityContext.capabilities.add[0]", "spec.containers[1].securityContext.capabilities.add[0]"},
			wantLeft: []string{"spec.initContainers[0].securityContext.capabilities.drop", "spec.containers[0].securityContext.capabilities.add[1]",
				"spec.containers[1].securityContext.capabilities.drop"},
		},
		"registries: only the image named": {
			pod: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "ghcr.io/company/etl:1" }, cfg: registries,
			rule: policy.AllowedRegistriesID, exc: waive(policy.AllowedRegistriesID, "busybox"),
			wantWaived: []string{"spec.initContainers[0].image", "spec.containers[1].image"},
		},
		"registries: a tag named is that tag only": {
			pod: func(p *corev1.Pod) { p.Spec.Containers[1].Image = "busybox:1.36" }, cfg: registries,
			rule: policy.AllowedRegistriesID, exc: waive(policy.AllowedRegistriesID, "busybox:1.36"),
			wantWaived: []string{"spec.containers[1].image"}, wantLeft: []string{"spec.initContainers[0].image"},
		},
		"host ports by number": {
			pod: func(p *corev1.Pod) {
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 22, HostPort: 22}}
			},
			rule: policy.NoHostPortsID, exc: waive(policy.NoHostPortsID, "8080"),
			wantWaived: []string{"spec.containers[0].ports[0].hostPort"}, wantLeft: []string{"spec.containers[0].ports[1].hostPort"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pod := runnerPod()
			if tc.pod != nil {
				tc.pod(pod)
			}
			vs := ofRule(evaluate(t, pod, tc.cfg), tc.rule)
			out := Apply([]v1alpha1.PolicyException{exc("narrow", nil, tc.exc)}, pod, vs, now, kestraWorker)
			var waived []policy.Violation
			for _, w := range out.Waived {
				waived = append(waived, w.Violation)
			}
			if got := fields(waived); !slices.Equal(got, tc.wantWaived) {
				t.Errorf("waived %v\nwant   %v", got, tc.wantWaived)
			}
			if got := fields(out.Violations); !slices.Equal(got, tc.wantLeft) {
				t.Errorf("left %v\nwant %v", got, tc.wantLeft)
			}
		})
	}
}

// A value for a rule whose violations carry none waives nothing.
func TestValuesOnARuleWithoutValues(t *testing.T) {
	e := exc("x", nil, waive("read-only-root-filesystem", "anything"))
	out := Apply([]v1alpha1.PolicyException{e}, runnerPod(), []policy.Violation{roMain}, now, kestraWorker)
	if len(out.Waived) != 0 {
		t.Errorf("waived %v", out.Waived)
	}
	if err := Validate(&e); err == nil || !strings.Contains(err.Error(), "spec.waive[0].values: read-only-root-filesystem violations carry no value") {
		t.Errorf("Validate = %v", err)
	}
}

// requestedBy trusts the identities it names and nobody else; offline it
// trusts nobody, and says so.
func TestRequestedBy(t *testing.T) {
	trusted := func(e *v1alpha1.PolicyException) {
		e.Spec.Match.RequestedBy = &v1alpha1.RequestedBy{Users: []string{"alice"}, Groups: []string{"kestra-workers"}, ServiceAccounts: []string{"kestra/kestra-worker"}}
	}
	tests := map[string]struct {
		req      *Requester
		waived   bool
		wantNote string
	}{
		"service account":    {req: kestraWorker, waived: true},
		"user":               {req: &Requester{User: "alice"}, waived: true},
		"group":              {req: &Requester{User: "bob", Groups: []string{"kestra-workers"}}, waived: true},
		"other user":         {req: &Requester{User: "bob", Groups: []string{"system:authenticated"}}, wantNote: `it trusts Pods requested by users alice; groups kestra-workers; service accounts kestra/kestra-worker, and the request came from "bob"`},
		"other sa same ns":   {req: &Requester{User: "system:serviceaccount:kestra:default"}, wantNote: `the request came from "system:serviceaccount:kestra:default"`},
		"sa name with colon": {req: &Requester{User: "system:serviceaccount:kestra:kestra-worker:x"}, wantNote: "does not waive"},
		"user spelt as sa":   {req: &Requester{User: "kestra/kestra-worker"}, wantNote: "does not waive"},
		"offline":            {req: nil, wantNote: "waives nothing here: it applies only at admission"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := exc("trusted", []string{"read-only-root-filesystem"}, trusted)
			out := Apply([]v1alpha1.PolicyException{e}, runnerPod(), []policy.Violation{roMain}, now, tc.req)
			if got := len(out.Waived) == 1; got != tc.waived {
				t.Fatalf("waived = %v, want %v (%+v)", got, tc.waived, out)
			}
			notes := strings.Join(out.Notes(), "\n")
			if tc.wantNote != "" && !strings.Contains(notes, tc.wantNote) {
				t.Errorf("notes %q lack %q", notes, tc.wantNote)
			}
			if tc.waived && notes != "" {
				t.Errorf("notes on a waiver: %q", notes)
			}
		})
	}
	// Without requestedBy, offline applies as before.
	out := Apply([]v1alpha1.PolicyException{exc("any", []string{"read-only-root-filesystem"}, nil)}, runnerPod(), []policy.Violation{roMain}, now, nil)
	if len(out.Waived) != 1 {
		t.Errorf("an exception without requestedBy does not apply offline: %+v", out)
	}
}

// A bad exception next to a good one: the good one is read, the bad one is
// named with the field at fault.
func TestFromList(t *testing.T) {
	item := func(name, extra string) unstructured.Unstructured {
		var obj map[string]any
		doc := "apiVersion: kestra-guard.io/v1alpha1\nkind: PolicyException\nmetadata: {name: " + name + ", namespace: kestra}\nspec:\n  rules: [read-only-root-filesystem]\n  reason: r\n" + extra
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		return unstructured.Unstructured{Object: obj}
	}
	good, bad := FromList([]unstructured.Unstructured{
		item("a-bad-time", "  expires: \"2030-01-01t00:00:00z\"\n"),
		item("b-good", "  expires: \"2030-01-01T00:00:00Z\"\n"),
		item("c-bad-type", "  match: {images: busybox}\n"),
		item("d-bad-group", "  match: {requestedBy: {groups: [system:authenticated]}}\n"),
		item("e-unknown-rule", "  waive: [{rule: everything}]\n"),
	})
	if len(good) != 1 || good[0].Name != "b-good" {
		t.Fatalf("good = %v", good)
	}
	want := map[string]string{
		"a-bad-time":     `spec.expires: "2030-01-01t00:00:00z": expected an RFC 3339 time such as 2030-01-01T00:00:00Z (upper-case T and Z)`,
		"c-bad-type":     "expected a kestra-guard.io/v1alpha1 PolicyException",
		"d-bad-group":    `spec.match.requestedBy.groups[0]: "system:authenticated": a group every identity`,
		"e-unknown-rule": `spec.waive[0].rule: "everything": expected a rule ID`,
	}
	if len(bad) != len(want) {
		t.Fatalf("bad = %+v", bad)
	}
	for _, b := range bad {
		if !strings.Contains(b.Err, want[b.Name]) || b.Namespace != "kestra" {
			t.Errorf("%s: error %q lacks %q", b, b.Err, want[b.Name])
		}
		if !strings.HasPrefix(b.Message(), "PolicyException kestra/"+b.Name+" cannot be read and waives nothing: ") {
			t.Errorf("message %q", b.Message())
		}
	}
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		tweak func(*v1alpha1.PolicyException)
		want  string
	}{
		"valid narrow": {tweak: waive(policy.NoHostPathID, "/mnt/backup")},
		"no rule":      {tweak: func(e *v1alpha1.PolicyException) {}, want: "spec.waive: name the rules waived"},
		"in both": {tweak: func(e *v1alpha1.PolicyException) {
			e.Spec.Rules = []v1alpha1.RuleID{"no-host-path"}
			waive("no-host-path")(e)
		}, want: `spec.waive[0].rule: "no-host-path" is in spec.rules too`},
		"twice": {tweak: func(e *v1alpha1.PolicyException) { waive("no-host-path", "/a")(e); waive("no-host-path", "/b")(e) }, want: `spec.waive[1].rule: "no-host-path" is listed twice`},
		"empty values": {tweak: func(e *v1alpha1.PolicyException) {
			e.Spec.Waive = []v1alpha1.RuleWaiver{{Rule: "no-host-path", Values: []string{}}}
		}, want: "spec.waive[0].values: expected at least one value"},
		"empty requestedBy": {tweak: func(e *v1alpha1.PolicyException) {
			waive("no-host-path")(e)
			e.Spec.Match.RequestedBy = &v1alpha1.RequestedBy{}
		}, want: "spec.match.requestedBy: name at least one"},
		"sa not ns/name": {tweak: func(e *v1alpha1.PolicyException) {
			waive("no-host-path")(e)
			e.Spec.Match.RequestedBy = &v1alpha1.RequestedBy{ServiceAccounts: []string{"kestra"}}
		}, want: `serviceAccounts[0]: "kestra": expected namespace/name`},
		"every sa of a ns": {tweak: func(e *v1alpha1.PolicyException) {
			waive("no-host-path")(e)
			e.Spec.Match.RequestedBy = &v1alpha1.RequestedBy{Groups: []string{"system:serviceaccounts:kestra"}}
		}, want: "trusts anyone"},
		"exact and prefix": {tweak: func(e *v1alpha1.PolicyException) {
			waive("no-host-path")(e)
			e.Spec.Match.FlowID = &v1alpha1.StringMatch{Exact: "a", Prefix: "b"}
		}, want: "spec.match.flowId: set exactly one"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := exc("v", nil, tc.tweak)
			err := Validate(&e)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

// The CRD refuses values for exactly the rules whose violations carry none:
// its CEL rule names the rules of valueRules, and each of those rules sets
// Value on a failing Pod.
func TestValueRulesAgreeWithCRDAndRules(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "charts", "kestra-guard", "crds", "kestra-guard.io_policyexceptions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := string(b)
	i := strings.Index(crd, "self.rule in [")
	if i < 0 {
		t.Fatal("the CRD has no CEL rule limiting values to some rules")
	}
	list := crd[i+len("self.rule in [") : i+strings.Index(crd[i:], "]")]
	var inCRD []string
	for _, f := range strings.Split(list, ",") {
		inCRD = append(inCRD, strings.Trim(strings.TrimSpace(f), `'`))
	}
	slices.Sort(inCRD)
	if !slices.Equal(inCRD, ValueRules()) {
		t.Errorf("CRD allows values for %v, kestra-guard compares values for %v", inCRD, ValueRules())
	}
}

// The CRD's pattern on spec.expires is the one CheckExpires applies (and
// FuzzExpiresAgreesWithCRD holds against metav1.Time).
func TestExpiresPatternIsTheCRDs(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "charts", "kestra-guard", "crds", "kestra-guard.io_policyexceptions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "pattern: " + expiresPattern.String() + "\n"; !strings.Contains(string(b), want) {
		t.Errorf("the CRD lacks %q", want)
	}
}

func TestCheckExpires(t *testing.T) {
	for s, ok := range map[string]bool{
		"2030-01-01T00:00:00Z": true, "2030-01-01T00:00:00.5+02:00": true,
		"2030-01-01t00:00:00z": false, "2030-01-01 00:00:00Z": false, "2030-01-01T00:00:00": false,
		"2030-02-30T00:00:00Z": false, "2030-01-01T24:00:00Z": false, "2030-01-01": false,
	} {
		if err := CheckExpires(s); (err == nil) != ok {
			t.Errorf("CheckExpires(%q) = %v, want ok=%v", s, err, ok)
		}
	}
}
