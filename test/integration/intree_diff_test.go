package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// diffCase is one Pod of the differential corpus. webhookOnly, when set,
// says why only the webhook refuses it (a listed difference).
type diffCase struct {
	name        string
	pod         *corev1.Pod
	webhookOnly string
}

// webhookOnlySpellings are the metadata address spellings of the bypass
// corpus that only the webhook decodes (no-metadata-address's InTree.
// WebhookOnly): decimal, hex, octal and short IPv4, IPv4-mapped IPv6, a
// zone, Unicode look-alikes, a soft hyphen, percent-encoding.
var webhookOnlySpellings = []string{"2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518", "[::ffff:169.254.169.254]",
	"[fe80::a9fe:a9fe%25eth0]", "\uff11\uff16\uff19", "meta\u00addata", "%EF%BC%91", "0x000"}

// diffCorpus is every Pod the differential test creates: the rule fixtures
// of internal/policy/testdata, Kestra's Pods, the bypass corpus and
// fuzzed Pods.
func diffCorpus(t *testing.T, ns string, fuzzed int) []diffCase {
	t.Helper()
	var out []diffCase
	fixtures := framework.PodFixtures(t)
	for _, f := range slices.Sorted(maps.Keys(fixtures)) {
		p := fixtures[f]
		p.Namespace = ns
		delete(p.Annotations, "test.kestra-guard.io/expect")
		out = append(out, diffCase{name: "fixture " + f, pod: p})
	}
	for name, p := range map[string]*corev1.Pod{
		"kestra default": kestraDefaultPod(ns, ""), "kestra containerSpec": containerSpecPod(ns, ""),
		"kestra python script": pythonTaskPod(ns, ""), "hardened": hardenedPod(ns, ""), "bad": badPod(ns, ""),
		// Refused for the host path in every configuration but one that
		// allows /var/log/, where only the writable mount is.
		"host path /var/log/app mounted writable": hostPathMounted(ns, false), "host path /var/log/app mounted read-only": hostPathMounted(ns, true),
	} {
		out = append(out, diffCase{name: name, pod: p})
	}
	for _, c := range bypassCorpus() {
		p := hardenedPod(ns, "")
		c.pod(p)
		d := diffCase{name: "bypass " + c.name, pod: p}
		for _, s := range webhookOnlySpellings {
			if strings.Contains(c.name, s) || (strings.Contains(c.name, "postStart") && s == "0xa9fea9fe") {
				d.webhookOnly = "no-metadata-address: the spelling " + s + " is decoded by the webhook only (README, Admission in-tree)"
			}
		}
		out = append(out, d)
	}
	r := rand.New(rand.NewSource(25))
	for i := range fuzzed {
		p := hardenedPod(ns, "")
		var names []string
		for range r.Intn(4) {
			tw := fuzzTweaks[r.Intn(len(fuzzTweaks))]
			tw.apply(r, p)
			names = append(names, tw.name)
		}
		out = append(out, diffCase{name: fmt.Sprintf("fuzz %d [%s]", i, strings.Join(names, ", ")), pod: p})
	}
	for i := range out {
		out[i].pod.Name = fmt.Sprintf("diff-%d", i)
	}
	return out
}

type fuzzTweak struct {
	name  string
	apply func(r *rand.Rand, p *corev1.Pod)
}

// container picks one container of p, init or regular.
func container(r *rand.Rand, p *corev1.Pod) *corev1.Container {
	n := len(p.Spec.InitContainers) + len(p.Spec.Containers)
	i := r.Intn(n)
	if i < len(p.Spec.InitContainers) {
		return &p.Spec.InitContainers[i]
	}
	return &p.Spec.Containers[i-len(p.Spec.InitContainers)]
}

func sc(c *corev1.Container) *corev1.SecurityContext {
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	return c.SecurityContext
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.Intn(len(xs))] }

// fuzzTweaks change one field each, to something safe or unsafe, in the
// spellings both forms decide.
var fuzzTweaks = []fuzzTweak{
	{"hostNetwork", func(r *rand.Rand, p *corev1.Pod) { p.Spec.HostNetwork = r.Intn(2) == 0 }},
	{"hostPID", func(r *rand.Rand, p *corev1.Pod) { p.Spec.HostPID = true }},
	{"hostIPC", func(r *rand.Rand, p *corev1.Pod) { p.Spec.HostIPC = true }},
	{"privileged", func(r *rand.Rand, p *corev1.Pod) {
		s := sc(container(r, p))
		s.Privileged, s.AllowPrivilegeEscalation = ptr.To(r.Intn(3) > 0), nil
	}},
	{"runAsUser", func(r *rand.Rand, p *corev1.Pod) {
		sc(container(r, p)).RunAsUser = ptr.To(pick[int64](r, 0, 1000, 65532))
	}},
	{"pod runAsUser", func(r *rand.Rand, p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptr.To(pick[int64](r, 0, 1000)) }},
	{"runAsNonRoot", func(r *rand.Rand, p *corev1.Pod) { sc(container(r, p)).RunAsNonRoot = ptr.To(r.Intn(2) == 0) }},
	{"pod runAsNonRoot unset", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.SecurityContext.RunAsNonRoot, p.Spec.SecurityContext.RunAsUser = nil, nil
	}},
	{"readOnlyRootFilesystem", func(r *rand.Rand, p *corev1.Pod) {
		sc(container(r, p)).ReadOnlyRootFilesystem = pick(r, ptr.To(false), nil, ptr.To(true))
	}},
	{"allowPrivilegeEscalation", func(r *rand.Rand, p *corev1.Pod) {
		sc(container(r, p)).AllowPrivilegeEscalation = pick(r, ptr.To(true), nil)
	}},
	{"capabilities", func(r *rand.Rand, p *corev1.Pod) {
		s := sc(container(r, p))
		s.Capabilities = &corev1.Capabilities{Drop: pick(r, []corev1.Capability{"ALL"}, nil, []corev1.Capability{"NET_RAW"}),
			Add: pick(r, nil, []corev1.Capability{"NET_BIND_SERVICE"}, []corev1.Capability{"NET_RAW"}, []corev1.Capability{"NET_ADMIN", "NET_BIND_SERVICE"})}
	}},
	{"seccomp", func(r *rand.Rand, p *corev1.Pod) {
		prof := pick(r, &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}, &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			&corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("task.json")})
		if r.Intn(2) == 0 {
			p.Spec.SecurityContext.SeccompProfile = prof
		} else {
			sc(container(r, p)).SeccompProfile = prof
		}
	}},
	{"hostPort", func(r *rand.Rand, p *corev1.Pod) {
		c := container(r, p)
		c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: 8080, HostPort: pick[int32](r, 0, 8080)})
	}},
	{"probe host", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Host: pick(r, "", "10.0.0.1", "169.254.169.254"), Port: intstr.FromInt32(80)}}}
	}},
	{"hostPath", func(r *rand.Rand, p *corev1.Pod) {
		hostPath(pick(r, "/var/run/docker.sock", "/etc", "/var/log", "//var/./run"))(p)
	}},
	{"volume type", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "extra", VolumeSource: pick(r,
			corev1.VolumeSource{GitRepo: &corev1.GitRepoVolumeSource{Repository: "https://example.com/r.git"}},
			corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "10.0.0.2", Path: "/"}},
			corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}},
			corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}})})
	}},
	{"sysctl", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: pick(r, "kernel.msgmax", "net.ipv4.tcp_keepalive_time", "net.ipv4.ip_local_port_range"), Value: "1"}}
	}},
	{"apparmor", func(r *rand.Rand, p *corev1.Pod) {
		prof := pick(r, &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}, &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault})
		sc(container(r, p)).AppArmorProfile = prof
	}},
	{"selinux", func(r *rand.Rand, p *corev1.Pod) {
		sc(container(r, p)).SELinuxOptions = pick(r, &corev1.SELinuxOptions{Type: "spc_t"}, &corev1.SELinuxOptions{Level: "s0:c1,c2"}, &corev1.SELinuxOptions{User: "system_u"})
	}},
	{"metadata address", func(r *rand.Rand, p *corev1.Pod) {
		addr := pick(r, "169.254.169.254", "metadata.google.internal", "[fd00:ec2::254]", "169.254.170.2:80", "api.example.com", "10.0.0.1")
		c := container(r, p)
		switch r.Intn(3) {
		case 0:
			c.Command = []string{"curl", "http://" + addr + "/latest/meta-data/"}
		case 1:
			c.Args = []string{"-c", "wget -qO- " + addr}
		default:
			c.Env = append(c.Env, corev1.EnvVar{Name: "ENDPOINT", Value: "http://" + addr})
		}
	}},
	{"host alias", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.HostAliases = []corev1.HostAlias{{IP: pick(r, "169.254.169.254", "10.0.0.5"), Hostnames: []string{"svc.example.com"}}}
	}},
	{"token", func(r *rand.Rand, p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = pick(r, ptr.To(true), nil) }},
	{"cloud env", func(r *rand.Rand, p *corev1.Pod) {
		c := container(r, p)
		c.Env = append(c.Env, corev1.EnvVar{Name: pick(r, "AWS_ROLE_ARN", "HTTP_PROXY"), Value: "x"})
	}},
	{"image", func(r *rand.Rand, p *corev1.Pod) {
		container(r, p).Image = pick(r, "busybox", "docker.io/busybox", "ghcr.io/kestra-io/kestra:1", "quay.io/x/y", "registry.example.com:5000/app", "python:3.12", "org/app")
	}},
	{"host path mounted", func(r *rand.Rand, p *corev1.Pod) {
		hostPath(pick(r, "/var/log", "/var/log/app", "/var/lib"))(p)
		c := container(r, p)
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "host", MountPath: "/host", ReadOnly: r.Intn(2) == 0})
	}},
	{"env", func(r *rand.Rand, p *corev1.Pod) {
		c := container(r, p)
		c.Env = append(c.Env, corev1.EnvVar{Name: "HOME", Value: "/home/task"})
	}},
}

// hostPathMounted is the hardened Pod with the host path /var/log/app
// mounted in its first container.
func hostPathMounted(ns string, readOnly bool) *corev1.Pod {
	p := hardenedPod(ns, "")
	hostPath("/var/log/app")(p)
	p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "host", MountPath: "/host", ReadOnly: readOnly})
	return p
}

// outcome is what the API server made of one create.
type outcome struct {
	verdict string // admitted, denied or invalid
	rules   []string
	spec    string
	err     string
}

var (
	webhookRule = regexp.MustCompile(`\n- ([a-z-]+): `)
	inTreeRule  = regexp.MustCompile(`kestra-guard: ([a-z-]+): `)
	// injectedName is the name of the token volume the ServiceAccount plugin injects.
	injectedName = regexp.MustCompile(`kube-api-access-[a-z0-9]+`)
)

// create creates p with dry-run (nothing is stored, so both phases create
// the same names) and returns the outcome.
func create(ctx context.Context, c client.Client, p *corev1.Pod) outcome {
	p = p.DeepCopy()
	return judged(p, c.Create(ctx, p, client.DryRunAll))
}

// judged is the outcome of a create or update of p that returned err (p
// as the API server returned it).
func judged(p *corev1.Pod, err error) outcome {
	switch {
	case err == nil:
		b, _ := json.Marshal(p.Spec)
		// The ServiceAccount plugin names the token volume it injects at random.
		return outcome{verdict: "admitted", spec: injectedName.ReplaceAllString(string(b), "kube-api-access-*")}
	case apierrors.IsForbidden(err):
		var rules []string
		for _, re := range []*regexp.Regexp{webhookRule, inTreeRule} {
			for _, m := range re.FindAllStringSubmatch(err.Error(), -1) {
				rules = append(rules, m[1])
			}
		}
		slices.Sort(rules)
		return outcome{verdict: "denied", rules: slices.Compact(rules), err: err.Error()}
	case apierrors.IsInvalid(err):
		return outcome{verdict: "invalid", err: err.Error()}
	}
	return outcome{verdict: "error", err: err.Error()}
}

// diffUpdate is one UPDATE of a stored task runner that both admitted:
// of the Pod itself, or of its ephemeralcontainers subresource.
type diffUpdate struct {
	name, subresource string
	mod               func(*corev1.Pod)
	// hardened: the webhook hardens the added ephemeral container before it
	// judges it, the in-tree policies judge it as written (README, "The
	// mutation in-tree"). In-tree may then refuse what the webhook admits,
	// or admit it unchanged where the webhook changed it; never admit what
	// the webhook refuses.
	hardened bool
}

func ephemeral(sc *corev1.SecurityContext, env ...corev1.EnvVar) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, Env: env, SecurityContext: sc,
			TerminationMessagePolicy: corev1.TerminationMessageReadFile}})
	}
}

func hardenedContainer() *corev1.SecurityContext {
	return &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
}

// diffUpdates are the UPDATE paths both forms judge: a debug container
// added to a running task runner (kubectl debug), and the few Pod fields
// an update may change.
var diffUpdates = []diffUpdate{
	{"label added", "", func(p *corev1.Pod) { p.Labels["team"] = "data" }, false},
	{"image from another registry", "", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "quay.io/x/y:2" }, false},
	{"active deadline", "", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](600) }, false},
	{"hardened ephemeral container", "ephemeralcontainers", ephemeral(hardenedContainer()), true},
	{"privileged ephemeral container", "ephemeralcontainers", ephemeral(func() *corev1.SecurityContext {
		// The API server refuses privileged next to allowPrivilegeEscalation
		// false as invalid, before any policy.
		sc := hardenedContainer()
		sc.Privileged, sc.AllowPrivilegeEscalation = ptr.To(true), nil
		return sc
	}()), false},
	{"root ephemeral container", "ephemeralcontainers", ephemeral(func() *corev1.SecurityContext {
		sc := hardenedContainer()
		sc.RunAsUser = ptr.To[int64](0)
		return sc
	}()), false},
	{"writable ephemeral container", "ephemeralcontainers", ephemeral(&corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}), true},
	{"ephemeral container adding a capability", "ephemeralcontainers", ephemeral(func() *corev1.SecurityContext {
		sc := hardenedContainer()
		sc.Capabilities.Add = []corev1.Capability{"NET_RAW"}
		return sc
	}()), false},
	{"ephemeral container with the metadata address", "ephemeralcontainers", ephemeral(hardenedContainer(), corev1.EnvVar{Name: "ENDPOINT", Value: "http://169.254.169.254/latest"}), false},
}

// update applies u, with dry-run, to the stored Pod key and returns the
// outcome.
func update(ctx context.Context, c client.Client, key client.ObjectKey, u diffUpdate) outcome {
	var p corev1.Pod
	if err := c.Get(ctx, key, &p); err != nil {
		return outcome{verdict: "error", err: err.Error()}
	}
	u.mod(&p)
	if u.subresource == "" {
		return judged(&p, c.Update(ctx, &p, client.DryRunAll))
	}
	return judged(&p, c.SubResource(u.subresource).Update(ctx, &p, &client.SubResourceUpdateOptions{UpdateOptions: client.UpdateOptions{DryRun: []string{metav1.DryRunAll}}}))
}

// usesWebhookOnlySpelling is true when p writes a metadata address in a
// spelling only the webhook decodes (the octal address of the
// imds-steal fixture, for one).
func usesWebhookOnlySpelling(p *corev1.Pod) bool {
	b, _ := json.Marshal(p)
	return slices.ContainsFunc(webhookOnlySpellings, func(s string) bool { return strings.Contains(string(b), s) })
}

// warnedRule finds the rule of an admission warning: the webhook's
// ("kestra-guard audit: enforce would deny: RULE: ...", "kestra-guard warns
// RULE: ...") and the in-tree policies' ("...: kestra-guard: RULE: ...").
var warnedRule = regexp.MustCompile(`kestra-guard(?: audit: enforce would deny:| warns|:) ([a-z-]+): `)

// warningCap is where the API server drops a response's warnings: past
// 4096 runes in all it cuts each to its first 256 (which hold the rule) and
// drops those that come once 4096 are written
// (k8s.io/apiserver/pkg/endpoints/filters/warning.go), so a response with
// fewer runes lost none. The Audit action's annotations are not cut.
const warningCap = 4096

// audited creates p with dry-run through g.WarnClient in an audit namespace
// and returns its verdict, the rules its warnings name, and whether the API
// server may have dropped some of them.
func audited(ctx context.Context, g *framework.Guarded, p *corev1.Pod) (verdict string, rules []string, capped bool) {
	g.Warnings.Take()
	o := create(ctx, g.WarnClient, p)
	runes := 0
	for _, w := range g.Warnings.Take() {
		runes += utf8.RuneCountInString(w)
		for _, m := range warnedRule.FindAllStringSubmatch(w, -1) {
			rules = append(rules, m[1])
		}
	}
	slices.Sort(rules)
	return o.verdict, slices.Compact(rules), runes >= warningCap
}

// The in-tree policies decide and mutate as the webhook: every Pod of the
// corpus is created once with kestra-guard's webhooks (the policies
// unbound) and once under the in-tree policies alone (admission.mode both,
// kestra-guard stopped, so its Pod webhooks fail open): the same verdict,
// the in-tree refusal names a rule the webhook refused for, and the same
// stored Pod after mutation; or a difference listed in the corpus with its
// reason.
func TestInTreeDecidesAsTheWebhook(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"defaults": {"admission": map[string]any{"mode": "both"}},
		// The configuration-dependent CEL: allowed registries, a host path
		// allow-list, a rule set to warn, no start gate.
		"configured": {"admission": map[string]any{"mode": "both"}, "startGate": map[string]any{"enabled": false},
			"policy": map[string]any{"rules": map[string]any{"allowed-registries": "deny", "no-host-ports": "warn"},
				"allowedRegistries": []any{"docker.io/library", "ghcr.io/kestra-io/"}, "hostPathAllowList": []any{"/var/log/"}}},
		// The gate on, its rule only warning: then nothing but the
		// other rules stops a container that takes the gate's name.
		"start gate warned": {"admission": map[string]any{"mode": "both"}, "policy": map[string]any{"rules": map[string]any{"start-gate": "warn"}}},
	} {
		t.Run(name, func(t *testing.T) { decidesAsTheWebhook(t, values) })
	}
}

// runnerNamespace creates the runner namespace ns, with labels besides the
// runner label, and waits until kestra-guard's controller has given it the
// managed NetworkPolicy, which the in-tree egress policy reads as its param.
func runnerNamespace(ctx context.Context, t *testing.T, g *framework.Guarded, ns string, labels map[string]string) {
	t.Helper()
	all := map[string]string{scope.RunnerLabel: "true"}
	maps.Copy(all, labels)
	g.CreateNamespace(t, ns, all)
	framework.Eventually(t, func() error {
		return g.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: managed.Name}, &networkingv1.NetworkPolicy{})
	})
}

// inTreeAlone stops kestra-guard (its Pod webhooks then fail open),
// installs the in-tree policies of values and waits until they refuse a bad
// Pod in ns: from then on they alone judge ns.
func inTreeAlone(ctx context.Context, t *testing.T, g *framework.Guarded, ns string, values map[string]any) {
	t.Helper()
	if err := g.StopServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.InstallInTree(ctx, values); err != nil {
		t.Fatal(err)
	}
	// The API server's policy informer picks the new objects up within a
	// moment: wait until the bad Pod is refused.
	framework.Eventually(t, func() error {
		if o := create(ctx, g.Client, badPod(ns, "probe")); o.verdict != "denied" {
			return fmt.Errorf("the in-tree policies do not refuse the bad Pod yet: %+v", o)
		}
		return nil
	})
}

func decidesAsTheWebhook(t *testing.T, values map[string]any) {
	g := framework.RunGuarded(t, values, nil)
	ctx := context.Background()
	const ns, auditNS = "runners", "audited"
	runnerNamespace(ctx, t, g, ns, nil)
	runnerNamespace(ctx, t, g, auditNS, map[string]string{scope.ModeLabel: "audit"})
	corpus := diffCorpus(t, ns, 300)
	auditCorpus := diffCorpus(t, auditNS, 50)

	webhook := make([]outcome, len(corpus))
	for i, c := range corpus {
		webhook[i] = create(ctx, g.Client, c.pod)
	}
	webhookAudit := make([][]string, len(auditCorpus))
	webhookAuditVerdict := make([]string, len(auditCorpus))
	for i, c := range auditCorpus {
		webhookAuditVerdict[i], webhookAudit[i], _ = audited(ctx, g, c.pod)
	}
	// A stored task runner, admitted by the webhook, for the UPDATE paths.
	base := hardenedPod(ns, "update-base")
	if err := g.Client.Create(ctx, base); err != nil {
		t.Fatalf("creating the task runner the updates change: %v", err)
	}
	key := client.ObjectKeyFromObject(base)
	// The gate passed, as the kubelet would report it (no kubelet runs
	// here): until then both refuse any debug container for start-gate.
	if len(base.Spec.InitContainers) > 0 && base.Spec.InitContainers[0].Name == policy.GateContainerName {
		base.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: policy.GateContainerName, Image: base.Spec.InitContainers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}}
		if err := g.Client.Status().Update(ctx, base); err != nil {
			t.Fatalf("marking the start gate of %s passed: %v", base.Name, err)
		}
	}
	webhookUpdates := make([]outcome, len(diffUpdates))
	for i, u := range diffUpdates {
		webhookUpdates[i] = update(ctx, g.Client, key, u)
	}
	inTreeAlone(ctx, t, g, ns, values)

	counts := map[string]int{}
	for i, c := range corpus {
		wh, it := webhook[i], create(ctx, g.Client, c.pod)
		counts[wh.verdict+"/"+it.verdict]++
		switch {
		case wh.verdict == "denied" && it.verdict == "admitted" && c.webhookOnly != "":
			counts["listed difference"]++
			continue
		case c.webhookOnly != "":
			t.Errorf("%s: listed as decided by the webhook only (%s), but webhook %s, in-tree %s", c.name, c.webhookOnly, wh.verdict, it.verdict)
		case wh.verdict != it.verdict:
			t.Errorf("%s: webhook %s %v, in-tree %s %v\nwebhook: %s\nin-tree: %s", c.name, wh.verdict, wh.rules, it.verdict, it.rules, wh.err, it.err)
		case it.verdict == "denied" && !slices.ContainsFunc(it.rules, func(r string) bool { return slices.Contains(wh.rules, r) }):
			t.Errorf("%s: the in-tree refusal names %v, the webhook's %v", c.name, it.rules, wh.rules)
		case wh.spec != it.spec:
			t.Errorf("%s: stored Pods differ\nwebhook: %s\nin-tree: %s", c.name, wh.spec, it.spec)
		}
	}
	updates := map[string]int{}
	for i, u := range diffUpdates {
		wh, it := webhookUpdates[i], update(ctx, g.Client, key, u)
		switch {
		case wh.verdict == "error" || it.verdict == "error":
			t.Errorf("update %q: webhook %s, in-tree %s\nwebhook: %s\nin-tree: %s", u.name, wh.verdict, it.verdict, wh.err, it.err)
		case u.hardened && wh.verdict == "admitted" && it.verdict == "denied":
			updates["stricter in-tree (the webhook hardens)"]++
		case wh.verdict != it.verdict:
			t.Errorf("update %q: webhook %s %v, in-tree %s %v\nwebhook: %s\nin-tree: %s", u.name, wh.verdict, wh.rules, it.verdict, it.rules, wh.err, it.err)
		case it.verdict == "denied" && !slices.ContainsFunc(it.rules, func(r string) bool { return slices.Contains(wh.rules, r) }):
			t.Errorf("update %q: the in-tree refusal names %v, the webhook's %v", u.name, it.rules, wh.rules)
		case u.hardened && wh.spec != it.spec:
			updates["admitted, hardened by the webhook only"]++
		case wh.spec != it.spec:
			t.Errorf("update %q: resulting Pods differ\nwebhook: %s\nin-tree: %s", u.name, wh.spec, it.spec)
		case u.hardened:
			updates["hardened, same verdict "+wh.verdict]++
		default:
			updates[wh.verdict+"/"+it.verdict]++
		}
	}
	t.Logf("%d updates (webhook verdict/in-tree verdict): %v", len(diffUpdates), updates)
	if updates["admitted/admitted"] == 0 || updates["denied/denied"] == 0 {
		t.Errorf("the updates compared strictly must hold some both admit and some both refuse: %v", updates)
	}
	// Audit mode: neither refuses, and the in-tree warnings name every rule
	// the webhook's do. In-tree, audit judges the Pod as submitted (nothing
	// mutates it), so it may name more: what mutation would fill in
	// (README, Admission in-tree).
	auditCounts := map[string]int{}
	for i, c := range auditCorpus {
		verdict, rules, capped := audited(ctx, g, c.pod)
		wh := webhookAudit[i]
		missing := slices.DeleteFunc(slices.Clone(wh), func(r string) bool { return slices.Contains(rules, r) })
		if c.webhookOnly != "" || usesWebhookOnlySpelling(c.pod) {
			missing = slices.DeleteFunc(missing, func(r string) bool { return r == "no-metadata-address" })
		}
		switch {
		case webhookAuditVerdict[i] == "denied" || verdict == "denied":
			t.Errorf("audit mode: %s: webhook %s, in-tree %s; want neither to refuse", c.name, webhookAuditVerdict[i], verdict)
		case webhookAuditVerdict[i] != verdict:
			t.Errorf("audit mode: %s: webhook %s, in-tree %s", c.name, webhookAuditVerdict[i], verdict)
		case len(missing) > 0 && capped:
			// The in-tree policies warn of each failed expression, at
			// length: a Pod with many violations reaches the cap.
			auditCounts["in-tree warnings cut by the API server"]++
		case len(missing) > 0:
			t.Errorf("audit mode: %s: the webhook warns of %v, the in-tree policies not (they warn of %v)", c.name, missing, rules)
		}
		auditCounts[fmt.Sprintf("%s, webhook warned %t, in-tree warned %t", verdict, len(wh) > 0, len(rules) > 0)]++
	}
	t.Logf("audit mode, %d Pods: %v", len(auditCorpus), auditCounts)
	if auditCounts["admitted, webhook warned true, in-tree warned true"] == 0 {
		t.Errorf("audit mode: the corpus must hold Pods both warn of: %v", auditCounts)
	}
	t.Logf("%d Pods (webhook verdict/in-tree verdict): %v", len(corpus), counts)
	if counts["admitted/admitted"] == 0 || counts["denied/denied"] == 0 {
		t.Errorf("the corpus must hold Pods both admit and Pods both refuse: %v", counts)
	}
}

// While no kestra-guard replica answers, admission.mode both keeps
// enforcing: Kestra's Pods are admitted, mutated by the in-tree policy
// (start gate first, read-only root, HOME), and unsafe ones refused; with
// the bindings removed, the unsafe ones would be admitted (the Pod webhooks
// fail open in both).
func TestInTreeHoldsWhileKestraGuardIsDown(t *testing.T) {
	values := map[string]any{"admission": map[string]any{"mode": "both"}}
	g := framework.RunGuarded(t, values, nil)
	ctx := context.Background()
	const ns = "runners"
	runnerNamespace(ctx, t, g, ns, nil)
	if _, err := g.InstallInTree(ctx, values); err != nil {
		t.Fatal(err)
	}
	// Both up: the in-tree mutation runs before the webhook's, which finds
	// nothing left to fill; the Pod is admitted with one start gate.
	framework.Eventually(t, func() error {
		p := kestraDefaultPod(ns, "")
		p.GenerateName = "both-up-"
		if err := g.Client.Create(ctx, p, client.DryRunAll); err != nil {
			return fmt.Errorf("both up: Kestra's Pod refused: %w", err)
		}
		if n := len(slices.DeleteFunc(slices.Clone(p.Spec.InitContainers), func(c corev1.Container) bool { return c.Name != policy.GateContainerName })); n != 1 ||
			p.Spec.InitContainers[0].Name != policy.GateContainerName || p.Labels[policy.GateLabel] != "true" {
			return fmt.Errorf("both up: want one start gate, first: %v", p.Spec.InitContainers)
		}
		return nil
	})
	if err := g.StopServer(); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, func() error {
		if o := create(ctx, g.Client, badPod(ns, "probe")); o.verdict != "denied" {
			return fmt.Errorf("kestra-guard down: the bad Pod is %s: %s", o.verdict, o.err)
		}
		return nil
	})
	for _, p := range []*corev1.Pod{kestraDefaultPod(ns, "default"), containerSpecPod(ns, "containerspec"), pythonTaskPod(ns, "python")} {
		if err := g.Client.Create(ctx, p); err != nil {
			t.Errorf("kestra-guard down: Kestra Pod %s refused: %v", p.Name, err)
			continue
		}
		if init := p.Spec.InitContainers; len(init) == 0 || init[0].Name != policy.GateContainerName || p.Labels[policy.GateLabel] != "true" {
			t.Errorf("kestra-guard down: Kestra Pod %s admitted without the start gate first: %v", p.Name, p.Spec.InitContainers)
		}
		for _, c := range append(p.Spec.InitContainers[1:], p.Spec.Containers...) {
			if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				!slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "HOME" }) || !slicesHasMount(&c, "/tmp") {
				t.Errorf("kestra-guard down: Kestra Pod %s: container %s not hardened: %+v", p.Name, c.Name, c)
			}
		}
	}
	for i, c := range bypassCorpus() {
		p := hardenedPod(ns, fmt.Sprintf("unsafe-%d", i))
		c.pod(p)
		o := create(ctx, g.Client, p)
		want := []string{c.rule}
		if p.Spec.HostNetwork {
			// The API server names the first policy that refuses, and the
			// egress policy refuses host network too.
			want = append(want, policy.MetadataEgressBlockedID)
		}
		switch {
		case o.verdict == "denied" && !slices.ContainsFunc(o.rules, func(r string) bool { return slices.Contains(want, r) }) && c.rule != "no-metadata-address":
			t.Errorf("kestra-guard down: %s refused for %v, want %s", c.name, o.rules, c.rule)
		case o.verdict == "admitted" && c.rule == "no-metadata-address":
			// The spellings only the webhook decodes (README, Admission in-tree).
			if !slices.ContainsFunc(webhookOnlySpellings, func(s string) bool { return strings.Contains(c.name, s) }) && !strings.Contains(c.name, "postStart") {
				t.Errorf("kestra-guard down: %s admitted", c.name)
			}
		case o.verdict == "admitted":
			t.Errorf("kestra-guard down: %s admitted", c.name)
		}
	}
}
