package policy

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psa "k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

// Pod Security "restricted" is the floor: every Pod kestra-guard admits
// (default configuration, the Pod as admission judges it: mutated first)
// is allowed by Pod Security Admission's own evaluator at restricted, the
// latest version the module in go.mod knows. The one allowance is a
// configured one: hostPath volumes on policy.hostPathAllowList, mounted
// read-only (restricted refuses every hostPath).

// restrictedFloor evaluates Pods with every PSA check at restricted/latest.
type restrictedFloor struct{ e psa.Evaluator }

func newRestrictedFloor(t testing.TB) restrictedFloor {
	e, err := psa.NewEvaluator(psa.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return restrictedFloor{e}
}

// refusals lists what PSA restricted refuses in pod, one "reason: detail" each.
func (f restrictedFloor) refusals(pod *corev1.Pod) []string {
	var out []string
	for _, r := range f.e.EvaluatePod(psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}, &pod.ObjectMeta, &pod.Spec) {
		if !r.Allowed {
			out = append(out, r.ForbiddenReason+": "+r.ForbiddenDetail)
		}
	}
	return out
}

// breaches returns what PSA restricted refuses in a Pod e admits, after the
// documented allowance; admitted says whether e admitted it. With mutate,
// the Pod is judged as admission judges it (mutated, then validated); pod
// itself is never changed. The egress rule is not evaluated (no
// NetworkPolicies are given): it has no counterpart in PSA.
func (f restrictedFloor) breaches(e *Engine, pod *corev1.Pod, mutate bool) (admitted bool, breaches []string) {
	pod = pod.DeepCopy()
	if mutate {
		e.Options().Mutate(pod, ScopePod)
	}
	if e.Evaluate(&Input{Pod: pod}).Denied() {
		return false, nil
	}
	// The allowance: hostPaths on the allow-list (kestra-guard admitted the
	// Pod, so they are mounted read-only). Judge the rest, other hostPaths
	// included.
	allowed := e.Options().HostPathAllowList
	pod.Spec.Volumes = slices.DeleteFunc(pod.Spec.Volumes, func(v corev1.Volume) bool {
		return v.HostPath != nil && allowedHostPath(CleanHostPath(v.HostPath.Path), allowed)
	})
	return true, f.refusals(pod)
}

// unmutatedExempt are the PSA refusals a Pod judged as written (no
// mutation, as `check --no-mutate`) may carry when kestra-guard admits it:
// run-as-non-root accepts a non-zero runAsUser without runAsNonRoot, and
// mutation sets runAsNonRoot: true on every Pod that leaves it unset, so
// the admitted Pod always carries it.
func unmutatedExempt(refusal string) bool { return strings.HasPrefix(refusal, "runAsNonRoot != true:") }

func checkFloor(t *testing.T, f restrictedFloor, e *Engine, name string, pod *corev1.Pod) (admitted bool) {
	t.Helper()
	admitted, bs := f.breaches(e, pod, true)
	if len(bs) > 0 {
		t.Errorf("%s: kestra-guard admits it (mutated), Pod Security restricted refuses: %s", name, strings.Join(bs, "; "))
	}
	_, bs = f.breaches(e, pod, false)
	if bs = slices.DeleteFunc(bs, unmutatedExempt); len(bs) > 0 {
		t.Errorf("%s: kestra-guard admits it as written, Pod Security restricted refuses: %s", name, strings.Join(bs, "; "))
	}
	return admitted
}

func TestRestrictedIsTheFloorRandomPods(t *testing.T) {
	f := newRestrictedFloor(t)
	for _, c := range []struct {
		name string
		mod  func(*Config)
	}{
		{"default config", nil},
		{"start gate on", withGate}, // the gate container is judged by restricted too
		{"hostPath allow-list", allow("/data")},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if c.mod != nil {
				c.mod(&cfg)
			}
			e, err := NewEngine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 4))
			admitted := 0
			for n := range 20000 {
				pod := randomPod(r)
				if n%2 == 1 {
					pod = nearlyHardenedPod(r)
				}
				if checkFloor(t, f, e, "random pod "+strconv.Itoa(n), pod) {
					admitted++
				}
				if t.Failed() {
					b, _ := json.Marshal(pod)
					t.Fatalf("pod %d: %s", n, b)
				}
			}
			// The property says nothing when nothing is admitted.
			if admitted < 100 {
				t.Errorf("only %d of 20000 random Pods admitted: the generator no longer exercises the property", admitted)
			}
			t.Logf("%d of 20000 random Pods admitted", admitted)
		})
	}
}

// nearlyHardenedPod is minimalPod with one to three fields taken from a
// random Pod: most random Pods break several rules at once, these sit at
// the edge of each rule, where a rule that admits too much shows.
func nearlyHardenedPod(r *rand.Rand) *corev1.Pod {
	p, q := minimalPod(), randomPod(r)
	qsc := q.Spec.SecurityContext
	if qsc == nil {
		qsc = &corev1.PodSecurityContext{}
	}
	qc := q.Spec.Containers[0].SecurityContext
	if qc == nil {
		qc = &corev1.SecurityContext{}
	}
	psc, pc := p.Spec.SecurityContext, p.Spec.Containers[0].SecurityContext
	take := []func(){
		func() { psc.RunAsNonRoot, psc.RunAsUser = qsc.RunAsNonRoot, qsc.RunAsUser },
		func() { psc.SeccompProfile = qsc.SeccompProfile },
		func() { psc.SELinuxOptions = qsc.SELinuxOptions },
		func() { psc.AppArmorProfile = qsc.AppArmorProfile },
		func() { psc.WindowsOptions = qsc.WindowsOptions },
		func() { psc.Sysctls = qsc.Sysctls },
		func() { p.Spec.HostUsers, p.Spec.OS = q.Spec.HostUsers, q.Spec.OS },
		func() { p.Annotations = q.Annotations },
		func() { p.Spec.Volumes = append(p.Spec.Volumes, q.Spec.Volumes...) },
		func() { p.Spec.EphemeralContainers = q.Spec.EphemeralContainers },
		func() { pc.RunAsNonRoot, pc.RunAsUser = qc.RunAsNonRoot, qc.RunAsUser },
		func() { pc.Privileged, pc.AllowPrivilegeEscalation = qc.Privileged, qc.AllowPrivilegeEscalation },
		func() { pc.Capabilities = qc.Capabilities },
		func() { pc.SeccompProfile = qc.SeccompProfile },
		func() { pc.SELinuxOptions = qc.SELinuxOptions },
		func() { pc.ProcMount = qc.ProcMount },
		func() { pc.AppArmorProfile = qc.AppArmorProfile },
		func() { pc.WindowsOptions = qc.WindowsOptions },
	}
	for range 1 + r.IntN(3) {
		take[r.IntN(len(take))]()
	}
	return p
}

// Every case of the rule table, each with its own configuration.
func TestRestrictedIsTheFloorRuleCases(t *testing.T) {
	f := newRestrictedFloor(t)
	for _, tc := range ruleCases() {
		cfg := DefaultConfig()
		if tc.config != nil {
			tc.config(&cfg)
		}
		e, err := NewEngine(cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkFloor(t, f, e, tc.name, tc.pod)
	}
}

// Every Pod in the repository's test corpora: the YAML and JSON files under
// any testdata folder (Pods, workloads' templates, Pod manifests inside
// Kestra flows, AdmissionReviews' objects) and the seeds of fuzz corpora,
// found by walking the tree so that a new file is covered without a change
// here.
func TestRestrictedIsTheFloorCorpora(t *testing.T) {
	f := newRestrictedFloor(t)
	e, err := NewEngine(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	pods := corpusPods(t, filepath.Join("..", ".."))
	admitted := 0
	for _, p := range pods {
		if checkFloor(t, f, e, p.where, p.pod) {
			admitted++
		}
	}
	if len(pods) < 20 || admitted == 0 {
		t.Errorf("found %d Pods in the corpora, %d admitted: the walk no longer finds them", len(pods), admitted)
	}
	t.Logf("%d Pods found in the corpora, %d admitted", len(pods), admitted)
}

type corpusPod struct {
	where string
	pod   *corev1.Pod
}

// corpusPods finds every Pod-shaped object (a map whose spec holds
// containers) in the test corpora under root.
func corpusPods(t *testing.T, root string) []corpusPod {
	var out []corpusPod
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == ".git" || name == "node_modules" || (strings.HasPrefix(name, ".") && name != "." && name != "..") {
				return filepath.SkipDir
			}
			return nil
		}
		if !slices.Contains(strings.Split(filepath.ToSlash(path), "/"), "testdata") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var docs [][]byte
		switch {
		case bytes.HasPrefix(b, []byte("go test fuzz v1\n")):
			for _, line := range strings.Split(string(b), "\n")[1:] {
				if s, ok := strings.CutPrefix(line, "[]byte("); ok {
					if u, err := strconv.Unquote(strings.TrimSuffix(s, ")")); err == nil {
						docs = append(docs, []byte(u))
					}
				}
			}
		case strings.HasSuffix(path, ".yaml"), strings.HasSuffix(path, ".yml"), strings.HasSuffix(path, ".json"):
			for _, d := range bytes.Split(b, []byte("\n---")) {
				docs = append(docs, d)
			}
		}
		for i, d := range docs {
			var v any
			if yaml.Unmarshal(d, &v) != nil {
				continue // not YAML (a broken fixture on purpose, a fuzz input)
			}
			findPods(v, func(m map[string]any) {
				b, _ := json.Marshal(map[string]any{"metadata": m["metadata"], "spec": m["spec"]})
				var p corev1.Pod
				if json.Unmarshal(b, &p) != nil {
					return // templated values, wrong types on purpose
				}
				out = append(out, corpusPod{where: path + "#" + strconv.Itoa(i), pod: &p})
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// findPods calls fn for every map under v whose spec is a map with a
// containers list: Pods, Pod templates, AdmissionReview objects.
func findPods(v any, fn func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		if spec, ok := v["spec"].(map[string]any); ok {
			if _, ok := spec["containers"].([]any); ok {
				fn(v)
			}
		}
		for _, x := range v {
			findPods(x, fn)
		}
	case []any:
		for _, x := range v {
			findPods(x, fn)
		}
	}
}

// FuzzRestrictedIsTheFloor checks the same property on fuzzed Pods.
func FuzzRestrictedIsTheFloor(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		b, _ := json.Marshal(randomPod(r))
		f.Add(b)
	}
	b, _ := json.Marshal(minimalPod())
	f.Add(b)
	floor := newRestrictedFloor(f)
	e, err := NewEngine(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p corev1.Pod
		if json.Unmarshal(b, &p) != nil {
			return
		}
		checkFloor(t, floor, e, "fuzzed pod", &p)
	})
}
