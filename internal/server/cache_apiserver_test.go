package server_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/server"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// The server's cache, against a real API server (which lists to the
// informer through a watch: a streaming list): it holds the policies that
// restrict egress and the managed one, from the first list on and through
// the edits that make a policy one of them or not.
func TestCacheOfNetworkPoliciesOnTheAPIServer(t *testing.T) {
	log.SetLogger(logr.Discard())
	cp := framework.RunControlPlane(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ns = "cache-np"
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	np := func(name string, types ...networkingv1.PolicyType) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: networkingv1.NetworkPolicySpec{PolicyTypes: types}}
	}
	egress, ingress := networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress
	for _, p := range []*networkingv1.NetworkPolicy{np("ingress-only", ingress), np("deny-egress", egress), np(managed.Name, ingress), np("becomes-egress", ingress), np("stops-egress", ingress, egress)} {
		if err := cp.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	opts := server.DefaultCacheOptions(t)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	opts.Scheme = scheme
	cch, err := cache.New(cp.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cch.GetInformer(ctx, &networkingv1.NetworkPolicy{}); err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := cch.Start(ctx); err != nil {
			t.Error(err)
		}
	}()
	if !cch.WaitForCacheSync(ctx) {
		t.Fatal("the cache did not sync")
	}
	names := func() []string {
		var l networkingv1.NetworkPolicyList
		if err := cch.List(ctx, &l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range l.Items {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	want := []string{"deny-egress", managed.Name, "stops-egress"}
	if got := names(); !slices.Equal(got, want) {
		t.Errorf("after the first list the cache holds %v; want %v", got, want)
	}

	edit := func(name string, types ...networkingv1.PolicyType) {
		p := &networkingv1.NetworkPolicy{}
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
			t.Fatal(err)
		}
		p.Spec.PolicyTypes = types
		if err := cp.Client.Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	edit("becomes-egress", ingress, egress)
	edit("stops-egress", ingress)
	for _, p := range []*networkingv1.NetworkPolicy{np("new-ingress-only", ingress), np("new-egress", egress)} {
		if err := cp.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	want = []string{"becomes-egress", "deny-egress", managed.Name, "new-egress"}
	slices.Sort(want)
	// Waiting for the watch to deliver the edits, which may take a moment.
	framework.Eventually(t, func() error {
		if got := names(); !slices.Equal(got, want) {
			return fmt.Errorf("after the edits the cache holds %v; want %v", got, want)
		}
		return nil
	})
}
