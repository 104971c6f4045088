// Command capture records the AdmissionReview bodies the real kube-apiserver
// sends to webhooks, for the bench and the equivalence tests: it starts the
// control plane from bin/k8s (default admission plugins, ServiceAccount on,
// as in a real cluster), registers an always-allow mutating and validating
// webhook that store each review, creates the bench's Pods in the runner
// namespace "runners", updates one, and writes the bodies to
// internal/webhook/testdata/reviews/<webhook>-<pod>-<operation>.json.
//
//	go run ./hack/capture
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// Namespace is where the Pods are created; the tests guard it as a runner namespace.
const Namespace = "runners"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	out := filepath.Join(framework.RepoRoot(), "internal", "webhook", "testdata", "reviews")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var mu sync.Mutex
	current := ""
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var ar admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &ar); err != nil || ar.Request == nil {
			http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
			return
		}
		mu.Lock()
		if current != "" {
			name := strings.TrimPrefix(r.URL.Path, "/") + "-" + current + "-" + strings.ToLower(string(ar.Request.Operation)) + ".json"
			var pretty bytes.Buffer
			_ = json.Indent(&pretty, body, "", "  ")
			pretty.WriteByte('\n')
			if err := os.WriteFile(filepath.Join(out, name), pretty.Bytes(), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "capture:", err)
			} else {
				fmt.Println("capture: wrote", name, len(body), "bytes")
			}
		}
		mu.Unlock()
		ar.Response = &admissionv1.AdmissionResponse{UID: ar.Request.UID, Allowed: true}
		ar.Request = nil
		_ = json.NewEncoder(w).Encode(ar)
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	cp, stop, err := framework.Start()
	if err != nil {
		return err
	}
	defer func() { _ = stop() }()
	if err := cp.EnsureNamespace(Namespace, map[string]string{scope.RunnerLabel: "true"}); err != nil {
		return err
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": Namespace}}
	rules := []admissionregv1.RuleWithOperations{{Operations: []admissionregv1.OperationType{admissionregv1.Create, admissionregv1.Update},
		Rule: admissionregv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: ptr.To(admissionregv1.NamespacedScope)}}}
	none := admissionregv1.SideEffectClassNone
	fail := admissionregv1.Fail
	hook := func(path string) admissionregv1.WebhookClientConfig {
		return admissionregv1.WebhookClientConfig{URL: ptr.To(srv.URL + path), CABundle: ca}
	}
	for _, o := range []interface {
		GetName() string
	}{
		&admissionregv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "capture"},
			Webhooks: []admissionregv1.MutatingWebhook{{Name: "mutate.capture.kestra-guard.io", ClientConfig: hook("/mutate"), Rules: rules, NamespaceSelector: sel,
				SideEffects: &none, FailurePolicy: &fail, AdmissionReviewVersions: []string{"v1"}}}},
		&admissionregv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "capture"},
			Webhooks: []admissionregv1.ValidatingWebhook{{Name: "validate.capture.kestra-guard.io", ClientConfig: hook("/validate"), Rules: rules, NamespaceSelector: sel,
				SideEffects: &none, FailurePolicy: &fail, AdmissionReviewVersions: []string{"v1"}}}},
	} {
		switch c := o.(type) {
		case *admissionregv1.MutatingWebhookConfiguration:
			err = cp.Client.Create(ctx, c)
		case *admissionregv1.ValidatingWebhookConfiguration:
			err = cp.Client.Create(ctx, c)
		}
		if err != nil {
			return fmt.Errorf("registering the capture webhook: %w", err)
		}
	}
	def, err := kestraDefault()
	if err != nil {
		return err
	}
	pods := map[string]*corev1.Pod{"passing": framework.PassingTaskRunner(Namespace, "passing"), "kestra-default": def}
	for _, name := range []string{"passing", "kestra-default"} {
		p := pods[name]
		mu.Lock()
		current = name
		mu.Unlock()
		// The webhook configuration may take a moment to reach the API
		// server's admission chain: create until a review was recorded.
		for i := 0; ; i++ {
			if err := cp.Client.Create(ctx, p.DeepCopy()); err != nil {
				return fmt.Errorf("creating Pod %s: %w", p.Name, err)
			}
			if _, err := os.Stat(filepath.Join(out, "validate-"+name+"-create.json")); err == nil {
				break
			}
			if i == 50 {
				return fmt.Errorf("no review recorded for Pod %s", name)
			}
			_ = cp.Client.Delete(ctx, p.DeepCopy(), client.GracePeriodSeconds(0))
		}
	}
	// An UPDATE carries the old object too.
	mu.Lock()
	current = "passing"
	mu.Unlock()
	var live corev1.Pod
	if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(pods["passing"]), &live); err != nil {
		return err
	}
	live.Labels["kestra.io/taskrun-attempt"] = "1"
	if err := cp.Client.Update(ctx, &live); err != nil {
		return fmt.Errorf("updating Pod passing: %w", err)
	}
	return nil
}

func kestraDefault() (*corev1.Pod, error) {
	b, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "internal", "policy", "testdata", "pods", "kestra-default.yaml"))
	if err != nil {
		return nil, err
	}
	p := &corev1.Pod{}
	if err := yaml.UnmarshalStrict(b, p); err != nil {
		return nil, err
	}
	p.Namespace = Namespace
	p.Annotations = nil
	return p, nil
}
