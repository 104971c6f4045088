package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// The cluster of the issue at full size (100,000 Pods); a smaller size keeps
// these proportions. Every namespace has the same content, so a bigger size
// is a smaller one plus namespaces: the run grows the cluster in place.
const (
	podsPerRunnerNS   = 40 // every one a task runner
	podsPerOrdinaryNS = 51 // of which one is a labelled task runner; every 9th namespace has one more of each
	policiesPerNS     = 10
	// fullPods is the size the per-namespace content above was cut for:
	// 200 runner namespaces and 1,800 others make 100,000 Pods, 10,000
	// task runners, 20,000 NetworkPolicies and 500 PolicyExceptions.
	fullPods = 100_000
)

// size is one cluster the run measures: its namespaces, and the object
// counts that follow from them.
type size struct {
	RunnerNS, OrdinaryNS int
}

// sizeFor is the layout of about pods Pods, in the proportions of the full
// size (one runner namespace for nine others).
func sizeFor(pods int) (size, error) {
	runner := pods * 200 / fullPods
	if runner < 1 || pods%(fullPods/200) != 0 {
		return size{}, fmt.Errorf("-pods %d: expected a positive multiple of %d (the cluster grows by one runner namespace and nine others)", pods, fullPods/200)
	}
	return size{RunnerNS: runner, OrdinaryNS: 9 * runner}, nil
}

func (s size) Namespaces() int { return s.RunnerNS + s.OrdinaryNS }

// extra reports whether ordinary namespace j holds one more Pod (a runner).
func extra(j int) bool { return j%9 == 0 }

func (s size) Pods() int {
	n := s.RunnerNS * podsPerRunnerNS
	for j := range s.OrdinaryNS {
		n += podsPerOrdinaryNS
		if extra(j) {
			n++
		}
	}
	return n
}

func (s size) Runners() int {
	n := s.RunnerNS * podsPerRunnerNS
	for j := range s.OrdinaryNS {
		n++
		if extra(j) {
			n++
		}
	}
	return n
}

func (s size) NetworkPolicies() int { return s.Namespaces() * policiesPerNS }

// Exceptions: two per runner namespace, three in every other one.
func (s size) Exceptions() int { return s.RunnerNS*2 + (s.RunnerNS+1)/2 }

func (s size) String() string {
	return fmt.Sprintf("%d Pods (%d task runners) in %d namespaces (%d runner namespaces), %d NetworkPolicies, %d PolicyExceptions",
		s.Pods(), s.Runners(), s.Namespaces(), s.RunnerNS, s.NetworkPolicies(), s.Exceptions())
}

func runnerNS(i int) string   { return fmt.Sprintf("scale-runners-%04d", i) }
func ordinaryNS(j int) string { return fmt.Sprintf("scale-apps-%05d", j) }

// builder creates objects with many clients at once.
type builder struct {
	c    client.Client
	conc int
	// created counts objects created, for progress.
	created atomic.Int64
}

// parallel runs do(i) for i in [from, to) on b.conc workers; the first
// error stops the rest.
func (b *builder) parallel(ctx context.Context, from, to int, do func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range b.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				if err := do(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// create creates obj; one that exists (a retried run) is fine.
func (b *builder) create(ctx context.Context, obj client.Object) error {
	for attempt := 0; ; attempt++ {
		err := b.c.Create(ctx, obj)
		switch {
		case err == nil:
			b.created.Add(1)
			return nil
		case apierrors.IsAlreadyExists(err):
			return nil
		case attempt < 5 && (apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err)):
			time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
			continue
		}
		return fmt.Errorf("creating %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
	}
}

// grow creates what from lacks to reach to: whole namespaces with their
// ServiceAccount, NetworkPolicies, PolicyExceptions and Pods.
func (b *builder) grow(ctx context.Context, from, to size, progress func(string)) error {
	type nsRef struct {
		name   string
		runner bool
		idx    int
	}
	var nss []nsRef
	for i := from.RunnerNS; i < to.RunnerNS; i++ {
		nss = append(nss, nsRef{runnerNS(i), true, i})
	}
	for j := from.OrdinaryNS; j < to.OrdinaryNS; j++ {
		nss = append(nss, nsRef{ordinaryNS(j), false, j})
	}
	step := func(what string, n int, do func(ctx context.Context, i int) error) error {
		t := time.Now()
		before := b.created.Load()
		if err := b.parallel(ctx, 0, n, do); err != nil {
			return err
		}
		progress(fmt.Sprintf("%s: %d created in %s", what, b.created.Load()-before, time.Since(t).Round(time.Second)))
		return nil
	}
	if err := step("namespaces", len(nss), func(ctx context.Context, i int) error {
		n := nss[i]
		labels := map[string]string{"team": fmt.Sprintf("team-%d", n.idx%37)}
		if n.runner {
			labels[scope.RunnerLabel] = "true"
		}
		return b.create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: labels}})
	}); err != nil {
		return err
	}
	// The ServiceAccount admission plugin refuses Pods in a namespace
	// without its "default" ServiceAccount (no controller-manager runs).
	if err := step("ServiceAccounts", len(nss), func(ctx context.Context, i int) error {
		return b.create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: nss[i].name}})
	}); err != nil {
		return err
	}
	if err := step("NetworkPolicies", len(nss)*policiesPerNS, func(ctx context.Context, i int) error {
		n := nss[i/policiesPerNS]
		return b.create(ctx, networkPolicy(n.name, n.idx, i%policiesPerNS))
	}); err != nil {
		return err
	}
	var excs []*v1alpha1.PolicyException
	for i := from.RunnerNS; i < to.RunnerNS; i++ {
		excs = append(excs, exceptions(runnerNS(i), i)...)
	}
	if err := step("PolicyExceptions", len(excs), func(ctx context.Context, i int) error { return b.create(ctx, excs[i]) }); err != nil {
		return err
	}
	// Pods: namespace by namespace, spread over the workers.
	type podRef struct {
		ns     string
		runner bool
		i      int
	}
	var pods []podRef
	for _, n := range nss {
		count, runners := podsPerRunnerNS, podsPerRunnerNS
		if !n.runner {
			count, runners = podsPerOrdinaryNS, 1
			if extra(n.idx) {
				count, runners = count+1, 2
			}
		}
		for k := range count {
			pods = append(pods, podRef{n.name, k < runners, k})
		}
	}
	return step("Pods", len(pods), func(ctx context.Context, i int) error {
		p := pods[i]
		if p.runner {
			return b.create(ctx, taskRunner(p.ns, p.i))
		}
		return b.create(ctx, ordinaryPod(p.ns, p.i))
	})
}

var flows = []string{"hello", "etl-daily", "sync-crm", "report", "ml-train", "cleanup", "ingest-s3"}

// taskRunner is a Pod as Kestra's Kubernetes task runner creates it
// (docs/FACTS: labels, restartPolicy Never, init-files, main, out-files,
// the kestra-files emptyDir). One in four is as Kestra makes it by default
// (no securityContext: the audit finds it); the others are hardened as the
// mutation leaves them.
func taskRunner(ns string, i int) *corev1.Pod {
	flow := flows[i%len(flows)]
	task := []string{"python", "commands", "shell"}[i%3]
	exec, taskrun := randomID(), randomID()
	name := fmt.Sprintf("company-team-%s-%s-%s", flow, task, strings.ToLower(randomID()[:8]))
	mounts := []corev1.VolumeMount{{Name: "kestra-files", MountPath: "/kestra"}}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			"kestra.io/namespace": "company.team", "kestra.io/flow-id": flow, "kestra.io/task-id": task,
			"kestra.io/execution-id": exec, "kestra.io/taskrun-id": taskrun, "kestra.io/taskrun-attempt": "0",
		}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			InitContainers: []corev1.Container{{Name: "init-files", Image: "busybox",
				Command:      []string{"sh", "-c", "until [ -f /kestra/ready ]; do sleep 1; done"},
				VolumeMounts: mounts}},
			Containers: []corev1.Container{
				{Name: "main", Image: "python:3.12", ImagePullPolicy: corev1.PullAlways, WorkingDir: "/kestra/working-dir",
					Command: []string{"/bin/sh", "-c", "set -e\npip install requests\npython main.py"},
					Env: []corev1.EnvVar{{Name: "WORKING_DIR", Value: "/kestra/working-dir"}, {Name: "PYTHONUNBUFFERED", Value: "true"},
						{Name: "PIP_ROOT_USER_ACTION", Value: "ignore"}, {Name: "PIP_DISABLE_PIP_VERSION_CHECK", Value: "1"}},
					VolumeMounts: mounts},
				{Name: "out-files", Image: "busybox", Command: []string{"sh", "-c", "until [ -f /kestra/ended ]; do sleep 1; done"}, VolumeMounts: mounts},
			},
			Volumes: []corev1.Volume{{Name: "kestra-files", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	if i%4 == 0 {
		return p
	}
	sc := &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	p.Spec.AutomountServiceAccountToken = ptr.To(false)
	p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532),
		FSGroup: ptr.To[int64](65532), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for k := range cs {
			cs[k].SecurityContext = sc.DeepCopy()
			cs[k].VolumeMounts = append(cs[k].VolumeMounts, corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
			cs[k].Env = append(cs[k].Env, corev1.EnvVar{Name: "HOME", Value: "/tmp"})
		}
	}
	return p
}

// ordinaryPod is a Pod of some Deployment: not a task runner.
func ordinaryPod(ns string, i int) *corev1.Pod {
	app := []string{"api", "web", "worker", "cache", "gateway"}[i%5]
	hash := fmt.Sprintf("%x", 0x5d8f7c9b00+i%3)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-%s-%s", app, hash, strings.ToLower(randomID()[:5])), Namespace: ns,
			Labels:      map[string]string{"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "shop", "pod-template-hash": hash},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: app, Image: "registry.example.com/shop/" + app + ":1.24.3",
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090}},
				Env:            []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "DATABASE_URL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: app + "-db"}, Key: "url"}}}},
				Resources:      corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}, Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}, PeriodSeconds: 10},
			}},
		},
	}
}

// networkPolicy k of namespace idx: ingress rules of the usual kinds, one
// in ten restricting egress too, and in one runner namespace of 25 a policy
// that reopens all egress (the audit reports it).
func networkPolicy(ns string, idx, k int) *networkingv1.NetworkPolicy {
	tcp := corev1.ProtocolTCP
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("allow-%02d", k), Namespace: ns, Labels: map[string]string{"team": fmt.Sprintf("team-%d", idx%37)}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": []string{"api", "web", "worker", "cache", "gateway"}[k%5]}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": fmt.Sprintf("team-%d", (idx+k)%37)}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: ptr.To(intstr.FromInt32(8080 + int32(k)))}},
			}},
		},
	}
	if k == 1 {
		// One policy in ten restricts egress: DNS and the cluster's network.
		udp := corev1.ProtocolUDP
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{
			{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: ptr.To(intstr.FromInt32(53))}, {Protocol: &tcp, Port: ptr.To(intstr.FromInt32(53))}}},
			{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}}}},
		}
	}
	if strings.HasPrefix(ns, "scale-runners-") && idx%25 == 0 && k == 0 {
		np.Spec.PodSelector = metav1.LabelSelector{}
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
		np.Spec.Ingress, np.Spec.Egress = nil, []networkingv1.NetworkPolicyEgressRule{{}}
	}
	return np
}

// exceptions of runner namespace i: two (three in every other one), each
// waiving one rule for one flow.
func exceptions(ns string, i int) []*v1alpha1.PolicyException {
	n := 2
	if i%2 == 0 {
		n = 3
	}
	rules := []v1alpha1.RuleID{"read-only-root-filesystem", "run-as-non-root", "seccomp-profile"}
	var out []*v1alpha1.PolicyException
	for k := range n {
		out = append(out, &v1alpha1.PolicyException{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("waive-%d", k), Namespace: ns},
			Spec: v1alpha1.PolicyExceptionSpec{
				Waive:  []v1alpha1.RuleWaiver{{Rule: rules[k]}},
				Match:  v1alpha1.Match{FlowID: &v1alpha1.StringMatch{Exact: flows[(i+k)%len(flows)]}},
				Reason: "legacy image, migration tracked in PLAT-" + fmt.Sprint(1000+i), Owner: "platform-team",
			},
		})
	}
	return out
}

const idChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomID is a Kestra-style 22-character base62 id.
func randomID() string {
	b := make([]byte, 22)
	for i := range b {
		b[i] = idChars[rand.IntN(len(idChars))]
	}
	return string(b)
}
