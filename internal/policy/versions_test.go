package policy

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
)

// Every rule says when it came and when its meaning changed, in versions a
// namespace may be pinned to; a change is either pinned (Before) or says why
// not.
func TestRuleVersions(t *testing.T) {
	for _, r := range Rules {
		since := versionIndex(r.Since)
		if since < 0 || r.Since == Latest {
			t.Errorf("rule %s: Since %q: expected one of %v", r.ID, r.Since, Versions)
		}
		last := since
		for _, c := range r.Changes {
			i := versionIndex(c.Version)
			if i <= last || c.Version == Latest {
				t.Errorf("rule %s: change %q in %q: expected a version of %v after %s and after the changes before it", r.ID, c.Summary, c.Version, Versions, r.Since)
			}
			last = i
			if (c.Before == nil) == (c.NotPinned == "") {
				t.Errorf("rule %s: change in %s: expected either Before (the older check) or NotPinned (why every version gets it), not both or neither", r.ID, c.Version)
			}
			if c.Summary == "" || strings.ContainsAny(c.Summary, "\n|") {
				t.Errorf("rule %s: change in %s: summary %q: expected one line without |", r.ID, c.Version, c.Summary)
			}
		}
	}
	if Versions[len(Versions)-1] != NextVersion {
		t.Errorf("Versions = %v: expected NextVersion %s last", Versions, NextVersion)
	}
}

// pinned is the test engine (every rule at its default, allowed-registries
// on) at version v.
func pinned(t *testing.T, v string, mod func(*Config)) *Engine {
	t.Helper()
	e, ok := testEngine(t, mod).At(v)
	if !ok {
		t.Fatalf("no engine at %s", v)
	}
	return e
}

func violationKeys(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Rule+"@"+v.Field)
	}
	return out
}

// A Pod that only a rule or a meaning added after 0.1.0 refuses passes at
// v0.1.0, fails at latest (and at v0.2.0, latest's name today), and latest's
// extra denial is what LatestWouldDeny reports for the pinned engine.
func TestEngineAtVersion(t *testing.T) {
	p := minimalPod()
	cases := map[string]struct {
		pod    *corev1.Pod
		config func(*Config)
		// at v0.1.0 and at latest: rule@field of every violation.
		old, latest []string
	}{
		"rule added later: no-unmasked-proc": {
			pod: tweak(p, func(p *corev1.Pod) {
				p.Spec.HostUsers = ptr.To(false)
				p.Spec.Containers[0].SecurityContext.ProcMount = ptr.To(corev1.UnmaskedProcMount)
			}),
			latest: []string{"no-unmasked-proc@spec.containers[0].securityContext.procMount"},
		},
		"rule added later: restricted-volume-types": {
			pod: tweak(p, func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "repo", VolumeSource: corev1.VolumeSource{GitRepo: &corev1.GitRepoVolumeSource{Repository: "https://example.com/r.git"}}})
			}),
			latest: []string{"restricted-volume-types@spec.volumes[1].gitRepo"},
		},
		"changed rule: no-metadata-address reads exec hooks since v0.2.0": {
			pod: tweak(p, func(p *corev1.Pod) {
				p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"curl", "169.254.169.254"}}}}
				p.Spec.HostAliases = []corev1.HostAlias{{IP: "169.254.169.254", Hostnames: []string{"creds"}}}
			}),
			latest: []string{"no-metadata-address@spec.containers[0].lifecycle.postStart.exec.command[1]", "no-metadata-address@spec.hostAliases[0].ip"},
		},
		"changed rule keeps what 0.1.0 read: no-metadata-address in args": {
			pod:    tweak(p, func(p *corev1.Pod) { p.Spec.Containers[0].Args = []string{"http://169.254.169.254/"} }),
			old:    []string{"no-metadata-address@spec.containers[0].args[0]"},
			latest: []string{"no-metadata-address@spec.containers[0].args[0]"},
		},
		"changed rule: allowed-registries reads image volumes since v0.2.0": {
			pod: tweak(p, func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "quay.io/x/data:1"}}})
			}),
			latest: []string{"allowed-registries@spec.volumes[1].image.reference"},
		},
		"changed pair: a token for an API audience moved from no-cloud-identity to no-service-account-token": {
			pod:    tweak(p, audienceToken("https://kubernetes.default.svc")),
			old:    []string{"no-cloud-identity@spec.volumes[1].projected.sources[0].serviceAccountToken.audience"},
			latest: []string{"no-service-account-token@spec.volumes[1].projected.sources[0].serviceAccountToken.audience"},
		},
		"start gate is unpinned by default: a gated engine refuses a Pod without the gate at v0.1.0": {
			pod:    p,
			config: withGate,
			old:    []string{"start-gate@spec.initContainers[0]"},
			latest: []string{"start-gate@spec.initContainers[0]"},
		},
		"start gate pinned when unpinnedRules is empty": {
			pod:    p,
			config: func(c *Config) { withGate(c); c.UnpinnedRules = nil },
			latest: []string{"start-gate@spec.initContainers[0]"},
		},
		"a gated Pod passes at v0.1.0: no-metadata-address's older check still skips the gate's arguments": {
			pod:    gated(p),
			config: withGate,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			old, latest := pinned(t, "v0.1.0", c.config), pinned(t, Latest, c.config)
			if got := violationKeys(evaluate(old, c.pod).Violations); !slices.Equal(got, c.old) {
				t.Errorf("at v0.1.0: %v, want %v", got, c.old)
			}
			for _, v := range []string{Latest, NextVersion} {
				if got := violationKeys(evaluate(pinned(t, v, c.config), c.pod).Violations); !slices.Equal(got, c.latest) {
					t.Errorf("at %s: %v, want %v", v, got, c.latest)
				}
			}
			in := &Input{Pod: c.pod, NetworkPolicies: blockingPolicyList(), NetworkPoliciesKnown: true}
			var wantExtra []string
			for _, k := range c.latest {
				if !slices.Contains(c.old, k) {
					if r, _ := RuleByID(strings.Split(k, "@")[0]); latest.Action(r.ID) == Deny {
						wantExtra = append(wantExtra, k)
					}
				}
			}
			if got := violationKeys(old.LatestWouldDeny(in, old.Evaluate(in))); !slices.Equal(got, wantExtra) {
				t.Errorf("LatestWouldDeny at v0.1.0 = %v, want %v", got, wantExtra)
			}
			if got := latest.LatestWouldDeny(in, latest.Evaluate(in)); got != nil {
				t.Errorf("LatestWouldDeny at latest = %v, want nil", got)
			}
		})
	}
}

func blockingPolicyList() []networkingv1.NetworkPolicy {
	return []networkingv1.NetworkPolicy{blockingPolicy()}
}

// The configured version is the engine NewEngine returns; an unknown version
// or unpinned rule is a configuration error naming the field and what is
// accepted.
func TestRuleSetVersionConfig(t *testing.T) {
	e := testEngine(t, func(c *Config) { c.RuleSetVersion = "v0.1.0" })
	if e.Version() != "v0.1.0" || !e.Pinned() || e.Latest().Pinned() || e.Latest().Version() != Latest {
		t.Errorf("engine %s (pinned %v), latest %s: want v0.1.0 pinned, latest not", e.Version(), e.Pinned(), e.Latest().Version())
	}
	if e.Action(NoUnmaskedProcID) != Off {
		t.Errorf("no-unmasked-proc at v0.1.0 is %s, want off (not yet there)", e.Action(NoUnmaskedProcID))
	}
	if d := testEngine(t, func(c *Config) { c.RuleSetVersion = "" }); d.Version() != Latest {
		t.Errorf("empty ruleSetVersion judges by %s, want latest", d.Version())
	}
	if _, ok := e.At("v9.9.9"); ok {
		t.Error("At(v9.9.9) found an engine")
	}
	cfg := DefaultConfig()
	cfg.RuleSetVersion, cfg.UnpinnedRules = "0.1", []string{"no-such-rule"}
	err := cfg.Validate()
	for _, want := range []string{`ruleSetVersion: "0.1": expected latest, v0.1.0, ` + NextVersion, `unpinnedRules[0]: "no-such-rule": expected a rule ID`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v; want one containing %q", err, want)
		}
	}
}
