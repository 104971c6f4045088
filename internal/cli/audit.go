package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/audit"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/report"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

func newAudit(s Streams) *cobra.Command {
	cfg := config.Default()
	var kubeconfig, kubeContext, namespace, output string
	var all bool
	cmd := &cobra.Command{
		Use:   "audit [--kubeconfig F] [--context C] [-n NS | -A] [-o text|json]",
		Short: "Evaluate the task-runner Pods and NetworkPolicies that already run in a cluster",
		Long: `audit reads the cluster (paginated), evaluates every task-runner Pod with the
NetworkPolicies of its namespace, and every NetworkPolicy that reopens
metadata egress in a namespace that runs task runners, with the same engine
as admission. A namespace labelled kestra-guard.io/enforce-version (or, without
the label, --rules-version) is judged by the rules of that version, and what
the latest rules would deny on top is listed as "latest would deny" lines.
Output and exit status are those of check.`,
		Args: cobra.NoArgs,
	}
	load := withConfig(cmd, &cfg)
	cfg.BindFlags(cmd.Flags())
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&kubeContext, "context", "", "kubeconfig context")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "audit one namespace")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "audit every namespace (the default when -n is not given)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	bindRulesVersion(cmd, &cfg)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := load(); err != nil {
			return err
		}
		if all && namespace != "" {
			return &ExitError{Code: 2, Err: fmt.Errorf("-n and -A exclude each other")}
		}
		compiled, err := compile(&cfg)
		if err != nil {
			return err
		}
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = kubeconfig
		rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
		if err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("reading the kubeconfig: %w", err)}
		}
		rc.Timeout = 30 * time.Second
		scheme := runtime.NewScheme()
		_ = clientgoscheme.AddToScheme(scheme)
		_ = v1alpha1.AddToScheme(scheme)
		c, err := client.New(rc, client.Options{Scheme: scheme})
		if err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("cannot reach the cluster at %s: %w", rc.Host, err)}
		}
		start, last := time.Now(), time.Now()
		a := &audit.Auditor{Reader: c, Config: compiled, PageSize: compiled.Audit.PageSize, Progress: func(nss, pods int) {
			if time.Since(last) > 2*time.Second {
				last = time.Now()
				_, _ = fmt.Fprintf(s.Err, "audit: %d namespaces, %d task-runner Pods evaluated (%s)\n", nss, pods, time.Since(start).Round(time.Second))
			}
		}}
		var nss []string
		if namespace != "" {
			nss = []string{namespace}
		}
		results, err := a.Run(cmd.Context(), nss...)
		if err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("auditing %s: %w", rc.Host, err)}
		}
		if compiled.Mode != scope.Enforce {
			// In audit or off mode the cluster admits: denials are warnings.
			for i := range results {
				results[i] = report.Finish(results[i], true)
			}
		}
		return printReport(s.Out, output, results, nil, nil)
	}
	return cmd
}
