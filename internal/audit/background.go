package audit

import (
	"context"
	"fmt"
	"hash/fnv"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/report"
)

// ReportName is the name of the PolicyReport kestra-guard keeps per namespace.
const ReportName = "kestra-guard"

var policyReportGVK = schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}

// Background audits the cluster every Interval while it leads, and reports
// through a metric, PolicyReports (when their CRD is installed) and, only
// when a namespace's findings change, one Event on the namespace.
type Background struct {
	Auditor       *Auditor
	Client        client.Client
	Recorder      events.EventRecorder
	Log           logr.Logger
	Interval      time.Duration
	PolicyReports bool
	Events        bool
	Violations    *Violations
	// ExceptionsInUse and ExceptionsExpired, when set, report PolicyExceptions.
	ExceptionsInUse, ExceptionsExpired *prometheus.GaugeVec

	last map[string]uint64 // namespace -> hash of its findings
}

func (b *Background) NeedLeaderElection() bool { return true }

// Start runs an audit at once, then every Interval, until ctx is done.
func (b *Background) Start(ctx context.Context) error {
	t := time.NewTicker(b.Interval)
	defer t.Stop()
	for {
		if err := b.RunOnce(ctx); err != nil && ctx.Err() == nil {
			b.Log.Error(err, "background audit failed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce audits every namespace and updates the reports. Each namespace's
// report is written as soon as the namespace is audited; what the pass
// keeps is a summary per namespace (violations by rule), not its results.
func (b *Background) RunOnce(ctx context.Context) error {
	start := time.Now()
	b.Log.Info("background audit started")
	// A pass allocates many times what it keeps (pages of Pods read whole,
	// then decoded; reports encoded): give the freed memory back to the
	// system at its end rather than carry it, as resident memory, into the
	// next pass. One collection a pass, before the pass says it is done.
	freed := false
	defer func() {
		if !freed {
			debug.FreeOSMemory()
		}
	}()
	if b.last == nil {
		b.last = map[string]uint64{}
	}
	reports := b.PolicyReports && b.reportsInstalled()
	// waived: namespace -> exception -> violations.
	waived := map[string]map[[2]string]int{}
	found := map[string]bool{} // namespace judged in this pass -> it has findings
	var errs []string
	written := 0
	publish := func(ns string, rs []report.Result) {
		h := findingsHash(rs)
		if old, seen := b.last[ns]; seen && old == h || !seen && len(rs) == 0 {
			return // unchanged, or clean and clean before
		}
		if reports {
			if err := b.writeReport(ctx, ns, rs); err != nil {
				errs = append(errs, err.Error())
				return
			}
			written++
		}
		if b.Events && b.Recorder != nil {
			b.event(ns, rs)
		}
		if len(rs) == 0 {
			delete(b.last, ns)
		} else {
			b.last[ns] = h
		}
	}
	stats, err := b.Auditor.Stream(ctx, func(ns string, results []report.Result) error {
		var rs []report.Result
		rules, excs := map[string]int{}, map[[2]string]int{}
		for _, r := range results {
			if len(r.Violations) == 0 && len(r.Waived) == 0 {
				continue
			}
			rs = append(rs, r)
			for _, v := range r.Violations {
				rules[v.Rule]++
			}
			for _, w := range r.Waived {
				excs[[2]string{w.Exception.Namespace, w.Exception.Name}]++
			}
		}
		// The gauge follows the pass namespace by namespace, as the reports do.
		b.Violations.set(ns, rules)
		waived[ns] = excs
		found[ns] = len(rs) > 0
		publish(ns, rs)
		return nil
	})
	if err != nil {
		return err
	}
	for ns := range b.last {
		if !found[ns] {
			publish(ns, nil) // clean now, or no longer audited
		}
	}
	b.exceptionGauges(waived)
	b.Violations.retain(found) // namespaces no longer judged
	withFindings := 0
	for _, has := range found {
		if has {
			withFindings++
		}
	}
	if errs != nil {
		return fmt.Errorf("writing PolicyReports: %s", strings.Join(errs, "; "))
	}
	debug.FreeOSMemory()
	freed = true
	b.Log.Info("background audit done", "namespacesWithViolations", withFindings, "namespaces", stats.Namespaces, "pods", stats.Pods,
		"policyReportsWritten", written, "seconds", time.Since(start).Seconds())
	return nil
}

func findingsHash(rs []report.Result) uint64 {
	h := fnv.New64a()
	for _, r := range rs {
		for _, v := range r.Violations {
			_, _ = fmt.Fprintf(h, "%s/%s/%s/%s/%s\n", r.Kind, r.Name, v.Rule, v.Field, v.Action)
		}
		for _, w := range r.Waived {
			_, _ = fmt.Fprintf(h, "%s/%s/%s/%s/skip/%s\n", r.Kind, r.Name, w.Rule, w.Field, w.Exception)
		}
	}
	return h.Sum64()
}

func (b *Background) reportsInstalled() bool {
	_, err := b.Client.RESTMapper().RESTMapping(policyReportGVK.GroupKind(), policyReportGVK.Version)
	return err == nil
}

// writeReport keeps one PolicyReport per namespace, deleted when clean.
func (b *Background) writeReport(ctx context.Context, ns string, rs []report.Result) error {
	report := &unstructured.Unstructured{}
	report.SetGroupVersionKind(policyReportGVK)
	report.SetNamespace(ns)
	report.SetName(ReportName)
	if len(rs) == 0 {
		err := b.Client.Delete(ctx, report)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil
		}
		return err
	}
	report.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "kestra-guard"})
	var results []any
	pass, fail, warn := 0, 0, 0
	for _, r := range rs {
		for _, v := range r.Violations {
			res := "fail"
			if v.Action == "warn" {
				res, warn = "warn", warn+1
			} else {
				fail++
			}
			results = append(results, map[string]any{
				"source": "kestra-guard", "policy": "kestra-guard", "rule": v.Rule, "result": res,
				"severity": "high", "message": v.Field + ": " + v.Reason + " (" + v.Detail + ")",
				"timestamp": map[string]any{"seconds": time.Now().Unix(), "nanos": 0},
				"resources": []any{map[string]any{"apiVersion": apiVersion(r.Kind), "kind": r.Kind, "namespace": ns, "name": r.Name}},
			})
		}
	}
	skip := 0
	for _, r := range rs {
		s := skipped(r, ns, time.Now())
		results, skip = append(results, s...), skip+len(s)
	}
	report.Object["results"] = results
	report.Object["summary"] = map[string]any{"pass": pass, "fail": fail, "warn": warn, "error": 0, "skip": skip}
	return b.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(report), client.FieldOwner("kestra-guard"), client.ForceOwnership)
}

func apiVersion(kind string) string {
	if kind == "NetworkPolicy" {
		return "networking.k8s.io/v1"
	}
	return "v1"
}

func (b *Background) event(ns string, rs []report.Result) {
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	obj.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if len(rs) == 0 {
		b.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "AuditClean", "Audit", "kestra-guard: no violation left in namespace %s", ns)
		return
	}
	var rules []string
	for _, r := range rs {
		for _, v := range r.Violations {
			if !slices.Contains(rules, v.Rule) {
				rules = append(rules, v.Rule)
			}
		}
	}
	b.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, "AuditViolations", "Audit",
		"kestra-guard: %d objects in namespace %s break rules: %s", len(rs), ns, strings.Join(rules, ", "))
}
