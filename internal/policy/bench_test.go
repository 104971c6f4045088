package policy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psa "k8s.io/pod-security-admission/policy"
)

// benchPods are a typical Kestra task runner that passes (one init
// container, two containers, hardened) and the Pod Kestra creates by
// default, which fails several rules.
func benchPods(b *testing.B) map[string]*corev1.Pod {
	def := loadPodB(b, "testdata/pods/kestra-default.yaml")
	return map[string]*corev1.Pod{"passing": minimalPod(), "kestra-default": def}
}

func loadPodB(b *testing.B, path string) *corev1.Pod {
	t := &testing.T{}
	p := loadPod(t, path)
	if t.Failed() || p == nil {
		b.Fatalf("loading %s", path)
	}
	return p
}

// BenchmarkEvaluate compares kestra-guard's engine (all rules, with the
// namespace's NetworkPolicies) with Pod Security Admission's evaluator at
// restricted/latest on the same Pods. The policy is as the webhook reads it
// from the API server, with a UID and a resourceVersion, so its analysis is
// cached; kestra-guard-uncached passes it as a manifest (check).
func BenchmarkEvaluate(b *testing.B) {
	e := testEngine(b, func(c *Config) { c.Rules = nil })
	pols := served([]networkingv1.NetworkPolicy{blockingPolicy()}, "4242")
	evaluator, err := psa.NewEvaluator(psa.DefaultChecks(), nil)
	if err != nil {
		b.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for name, pod := range benchPods(b) {
		in := &Input{Pod: pod, NetworkPolicies: pols, NetworkPoliciesKnown: true, NetworkPoliciesServed: true}
		b.Run(name+"/kestra-guard", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Evaluate(in)
			}
		})
		b.Run(name+"/kestra-guard-uncached", func(b *testing.B) {
			manifest := &Input{Pod: pod, NetworkPolicies: []networkingv1.NetworkPolicy{blockingPolicy()}, NetworkPoliciesKnown: true}
			b.ReportAllocs()
			for b.Loop() {
				e.Evaluate(manifest)
			}
		})
		b.Run(name+"/kestra-guard-no-egress", func(b *testing.B) {
			noEgress := &Input{Pod: pod}
			e := testEngine(b, func(c *Config) { c.Rules = map[string]Action{"metadata-egress-blocked": Off} })
			b.ReportAllocs()
			for b.Loop() {
				e.Evaluate(noEgress)
			}
		})
		b.Run(name+"/pod-security-admission", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				evaluator.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec)
			}
		})
	}
}
