// Package config is kestra-guard's configuration: one YAML file, read by
// `serve`, `check`, `mutate` and `audit` alike, with flags bound to its fields.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// Config is the whole configuration.
type Config struct {
	// Mode is the default mode; a namespace's kestra-guard.io/mode label overrides it.
	Mode scope.Mode `json:"mode"`
	// TaskRunnerSelector is a label selector: Pods it matches are task runners.
	TaskRunnerSelector string `json:"taskRunnerSelector"`
	// RunnerNamespaces are namespaces where every Pod is a task runner, as are
	// namespaces labelled kestra-guard.io/runner=true.
	RunnerNamespaces []string `json:"runnerNamespaces,omitempty"`
	// Namespace is kestra-guard's own namespace, never intercepted.
	Namespace string `json:"namespace"`
	// ManagedNetworkPolicy is the NetworkPolicy kestra-guard keeps in every
	// guarded namespace.
	ManagedNetworkPolicy ManagedNetworkPolicy `json:"managedNetworkPolicy"`
	Policy               policy.Config        `json:"policy"`
	Server               Server               `json:"server"`
	Audit                BackgroundAudit      `json:"audit"`
}

// BackgroundAudit configures the server's audit of what already runs.
type BackgroundAudit struct {
	Enabled       bool            `json:"enabled"`
	Interval      metav1.Duration `json:"interval"`
	PolicyReports bool            `json:"policyReports"`
	Events        bool            `json:"events"`
	// PageSize is how many Pods one list call of a pass reads.
	PageSize int `json:"pageSize"`
	// ListsPerSecond paces a pass's list calls to the API server (0: not
	// paced), so that a pass does not compete with admission in bursts.
	ListsPerSecond int `json:"listsPerSecond"`
}

// ManagedNetworkPolicy configures the metadata-blocking NetworkPolicy.
type ManagedNetworkPolicy struct {
	Enabled bool `json:"enabled"`
	// Strict allows egress only to AllowedCIDRs (and DNS) instead of everywhere
	// but the metadata ranges.
	Strict       bool     `json:"strict,omitempty"`
	AllowedCIDRs []string `json:"allowedCIDRs,omitempty"`
}

// Server configures `serve`.
type Server struct {
	Port           int    `json:"port"`
	CertDir        string `json:"certDir"`
	CertMode       string `json:"certMode"` // self or external
	CertSecret     string `json:"certSecret"`
	ServiceName    string `json:"serviceName"`
	MutatingName   string `json:"mutatingWebhookConfiguration"`
	ValidatingName string `json:"validatingWebhookConfiguration"`
	MetricsAddr    string `json:"metricsAddr"`
	HealthAddr     string `json:"healthAddr"`
	EnableHTTP2    bool   `json:"enableHTTP2,omitempty"`
	LeaderElection bool   `json:"leaderElection"`
	MaxBodyBytes   int64  `json:"maxBodyBytes"`
	// ShutdownDelay is how long the server keeps answering, closing each
	// connection, after SIGTERM and before it stops.
	ShutdownDelay metav1.Duration `json:"shutdownDelay"`
	// PprofAddr serves net/http/pprof when set (off by default).
	PprofAddr string `json:"pprofAddr,omitempty"`
	// CAOverlap is how long, with certMode self, a replaced CA stays in the
	// webhook configurations after its successor is first published there:
	// longer than the kubelet takes to deliver the new serving certificate
	// to every replica (about a minute).
	CAOverlap metav1.Duration `json:"caOverlap"`
	// ExtraDNSNames are further names in the self-managed certificate.
	ExtraDNSNames []string `json:"extraDNSNames,omitempty"`
	// LogLevel is the least level logged: debug, info, warn or error.
	// Decision lines are info and never sampled.
	LogLevel string `json:"logLevel,omitempty"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Mode:                 scope.Enforce,
		TaskRunnerSelector:   "kestra.io/taskrun-id",
		Namespace:            "kestra-guard",
		ManagedNetworkPolicy: ManagedNetworkPolicy{Enabled: true},
		Policy:               policy.DefaultConfig(),
		Audit:                BackgroundAudit{Enabled: true, Interval: metav1.Duration{Duration: 10 * time.Minute}, PolicyReports: true, Events: true, PageSize: 100, ListsPerSecond: 10},
		Server: Server{
			Port:           9443,
			CertDir:        "/tmp/k8s-webhook-server/serving-certs",
			CertMode:       "self",
			CertSecret:     "kestra-guard-webhook-cert",
			ServiceName:    "kestra-guard-webhook",
			MutatingName:   "kestra-guard",
			ValidatingName: "kestra-guard",
			MetricsAddr:    ":8080",
			HealthAddr:     ":8081",
			LeaderElection: true,
			MaxBodyBytes:   3 << 20,
			ShutdownDelay:  metav1.Duration{Duration: 5 * time.Second},
			CAOverlap:      metav1.Duration{Duration: 15 * time.Minute},
			LogLevel:       "info",
		},
	}
}

// Load reads a YAML (or JSON) file over the defaults. Unknown fields are errors.
func Load(path string) (Config, error) {
	cfg := Default()
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("reading config: %w", err)
	}
	return Parse(b, path)
}

// Parse reads a configuration in YAML (or JSON) over the defaults; source
// names it in errors. Unknown fields are errors.
func Parse(b []byte, source string) (Config, error) {
	cfg := Default()
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", source, err)
	}
	return cfg, nil
}

// BindFlags binds the flags that override the file onto cfg's fields.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	c.BindModeFlag(fs)
	fs.StringVar(&c.TaskRunnerSelector, "task-runner-selector", c.TaskRunnerSelector, "label selector of task-runner Pods")
	fs.StringSliceVar(&c.RunnerNamespaces, "runner-namespaces", c.RunnerNamespaces, "namespaces where every Pod is a task runner")
	fs.StringVar(&c.Namespace, "guard-namespace", c.Namespace, "kestra-guard's own namespace, never intercepted")
}

// BindModeFlag binds --mode, the same word as `mode` in the file for every
// command: what kestra-guard does with a task runner's denials in a
// namespace without a kestra-guard.io/mode label.
func (c *Config) BindModeFlag(fs *pflag.FlagSet) {
	fs.StringVar((*string)(&c.Mode), "mode", string(c.Mode), "enforce (denials refuse the Pod; check and audit exit 1), audit or off (the Pod is admitted: denials are reported as warnings, exit 0); overrides mode of --config/--values")
}

// BindServerFlags binds the flags of `serve`.
func (c *Config) BindServerFlags(fs *pflag.FlagSet) {
	s := &c.Server
	fs.IntVar(&s.Port, "port", s.Port, "webhook server port")
	fs.StringVar(&s.CertDir, "cert-dir", s.CertDir, "folder holding tls.crt and tls.key")
	fs.StringVar(&s.CertMode, "cert-mode", s.CertMode, "self (rotate certificates in a Secret and inject the CA) or external (cert-manager or a given Secret)")
	fs.StringVar(&s.CertSecret, "cert-secret", s.CertSecret, "Secret holding the self-managed certificates")
	fs.StringVar(&s.ServiceName, "service-name", s.ServiceName, "Service in front of the webhook, for the certificate's DNS name")
	fs.StringVar(&s.MetricsAddr, "metrics-bind-address", s.MetricsAddr, "metrics address, 0 to disable")
	fs.StringVar(&s.HealthAddr, "health-probe-bind-address", s.HealthAddr, "/healthz and /readyz address")
	fs.StringVar(&s.PprofAddr, "pprof-bind-address", s.PprofAddr, "serve net/http/pprof on this address (off when empty)")
	fs.BoolVar(&s.EnableHTTP2, "enable-http2", s.EnableHTTP2, "serve HTTP/2 (off by default)")
	fs.BoolVar(&s.LeaderElection, "leader-elect", s.LeaderElection, "elect a leader for the background controllers")
	fs.StringVar(&s.LogLevel, "log-level", s.LogLevel, "least level logged: debug, info, warn or error (decision lines are info, never sampled)")
}

// Compiled is a valid configuration with what it parses, built once by
// Compile and shared by serve, check and audit.
type Compiled struct {
	Config
	// Scope decides which Pods are guarded and in which mode.
	Scope *scope.Scope
	// Engine evaluates the rules of Config.Policy.
	Engine *policy.Engine
	// AllowedCIDRs are managedNetworkPolicy.allowedCIDRs, parsed.
	AllowedCIDRs []netip.Prefix
	// Managed are the managed policy's specs, built from AllowedCIDRs, the
	// engine's metadata ranges and the scope's selector.
	Managed ManagedSpecs
}

// ManagedSpecs are the managed policy's specs, one per kind of guarded
// namespace.
type ManagedSpecs struct {
	// LabelSelected is the policy of a namespace guarded because a Pod
	// matched taskRunnerSelector: it selects the task runners only.
	LabelSelected managed.Spec
	// RunnerNamespace is the policy of a runner namespace: it selects every Pod.
	RunnerNamespace managed.Spec
}

// For is the spec for a runner namespace or another guarded one.
func (m *ManagedSpecs) For(runnerNamespace bool) managed.Spec {
	if runnerNamespace {
		return m.RunnerNamespace
	}
	return m.LabelSelected
}

// managedSpecs builds the managed policy's specs from what Compile parsed.
func (c *Compiled) managedSpecs() ManagedSpecs {
	o := c.Engine.Options()
	base := managed.Spec{Metadata: o.Metadata, DNS: o.DNS, Strict: c.ManagedNetworkPolicy.Strict, AllowedCIDRs: c.AllowedCIDRs}
	out := ManagedSpecs{LabelSelected: base, RunnerNamespace: base}
	out.LabelSelected.Selector = c.Scope.Selector()
	return out
}

// Validate returns every error of the configuration, each with its path.
func (c *Config) Validate() error {
	_, err := c.Compile()
	return err
}

// Compile validates the configuration, returning every error with its path
// at once, and parses what serve, check and audit use.
func (c *Config) Compile() (*Compiled, error) {
	out := &Compiled{Config: *c}
	var errs []error
	// scope.New validates the mode and the selector.
	sc, err := scope.New(scope.Config{Mode: c.Mode, TaskRunnerSelector: c.TaskRunnerSelector, RunnerNamespaces: c.RunnerNamespaces, Namespace: c.Namespace})
	if err != nil {
		errs = append(errs, err)
	}
	if c.Namespace == "" {
		errs = append(errs, errors.New("namespace: expected kestra-guard's own namespace"))
	}
	errs = append(errs, c.runnerNamespaceErrors()...)
	engine, err := policy.NewEngine(c.Policy)
	if err != nil {
		errs = append(errs, policy.PrefixErrors("policy.", err)...)
	}
	cidrs, cidrErrs := c.allowedCIDRs(engine)
	errs = append(errs, cidrErrs...)
	s := c.Server
	if s.Port <= 0 || s.Port > 65535 {
		errs = append(errs, fmt.Errorf("server.port: %d: expected 1-65535", s.Port))
	}
	if s.CertMode != "self" && s.CertMode != "external" {
		errs = append(errs, fmt.Errorf("server.certMode: %q: expected self or external", s.CertMode))
	}
	if c.Audit.Enabled && c.Audit.Interval.Duration < time.Minute {
		errs = append(errs, fmt.Errorf("audit.interval: %s: expected at least 1m", c.Audit.Interval.Duration))
	}
	if c.Audit.PageSize < 1 || c.Audit.PageSize > 5000 {
		errs = append(errs, fmt.Errorf("audit.pageSize: %d: expected 1 to 5000", c.Audit.PageSize))
	}
	if c.Audit.ListsPerSecond < 0 || c.Audit.ListsPerSecond > 1000 {
		errs = append(errs, fmt.Errorf("audit.listsPerSecond: %d: expected 0 (not paced) to 1000", c.Audit.ListsPerSecond))
	}
	if s.ShutdownDelay.Duration < 0 || s.ShutdownDelay.Duration > 5*time.Minute {
		errs = append(errs, fmt.Errorf("server.shutdownDelay: %s: expected 0 to 5m", s.ShutdownDelay.Duration))
	}
	if s.CAOverlap.Duration < time.Second || s.CAOverlap.Duration > 24*time.Hour {
		errs = append(errs, fmt.Errorf("server.caOverlap: %s: expected 1s to 24h", s.CAOverlap.Duration))
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, s.LogLevel) {
		errs = append(errs, fmt.Errorf("server.logLevel: %q: expected debug, info, warn or error", s.LogLevel))
	}
	if s.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("server.maxBodyBytes: %d: expected a positive size", s.MaxBodyBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out.Scope, out.Engine, out.AllowedCIDRs = sc, engine, cidrs
	out.Managed = out.managedSpecs()
	return out, nil
}

// runnerNamespaceErrors refuses runnerNamespaces entries that are not
// namespace names, and those kestra-guard never intercepts (kube-system and
// its own namespace, scope.Excluded): listed, they would look guarded and
// not be.
func (c *Config) runnerNamespaceErrors() []error {
	var errs []error
	for i, ns := range c.RunnerNamespaces {
		switch {
		case ns == metav1.NamespaceSystem:
			errs = append(errs, fmt.Errorf("runnerNamespaces[%d]: %q is never intercepted (a webhook outage must not stop the cluster's own Pods): expected a namespace Kestra's task runners use", i, ns))
		case ns == c.Namespace:
			errs = append(errs, fmt.Errorf("runnerNamespaces[%d]: %q is kestra-guard's own namespace (namespace), which is never intercepted: expected a namespace Kestra's task runners use", i, ns))
		default:
			if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("runnerNamespaces[%d]: %q: expected a namespace name: %s", i, ns, strings.Join(msgs, "; ")))
			}
		}
	}
	return errs
}

// allowedCIDRs parses managedNetworkPolicy.allowedCIDRs, once, here, so that
// check and audit refuse what serve refuses: each must be a CIDR, and none
// may overlap a metadata range (the managed policy would then allow what the
// egress rule forbids, and every task runner would be denied). The metadata
// ranges are the engine's; only when the policy is invalid (engine nil) are
// they read from policy.metadataCIDRs, to report every error at once.
func (c *Config) allowedCIDRs(engine *policy.Engine) ([]netip.Prefix, []error) {
	var metadata []netip.Prefix
	if engine != nil {
		metadata = engine.Options().Metadata
	} else {
		metadata = policy.MetadataRanges(c.Policy.MetadataCIDRs)
	}
	var out []netip.Prefix
	var errs []error
	for i, a := range c.ManagedNetworkPolicy.AllowedCIDRs {
		p, err := policy.ParseCIDR(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("managedNetworkPolicy.allowedCIDRs[%d]: %q: expected a CIDR such as 10.0.0.0/8", i, a))
			continue
		}
		if j := slices.IndexFunc(metadata, p.Overlaps); j >= 0 {
			errs = append(errs, fmt.Errorf("managedNetworkPolicy.allowedCIDRs[%d]: %q overlaps the metadata range %s: expected a range that excludes every policy.metadataCIDRs entry", i, a, metadata[j]))
			continue
		}
		out = append(out, p)
	}
	return out, errs
}

// LoadInto reads the file at path into cfg, then applies again the flags of
// fs that were set on the command line, so that flags win over the file.
func LoadInto(path string, cfg *Config, fs *pflag.FlagSet) error {
	if path == "" {
		return nil
	}
	return LoadWith(func() (Config, error) { return Load(path) }, cfg, fs)
}

// LoadWith replaces cfg by what load returns, then applies again the flags
// of fs that were set on the command line, so that flags win.
func LoadWith(load func() (Config, error), cfg *Config, fs *pflag.FlagSet) error {
	type setFlag struct {
		f     *pflag.Flag
		value string
		slice []string
	}
	var set []setFlag
	fs.Visit(func(f *pflag.Flag) {
		s := setFlag{f: f, value: f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			s.slice = sv.GetSlice()
		}
		set = append(set, s)
	})
	loaded, err := load()
	if err != nil {
		return err
	}
	*cfg = loaded
	for _, s := range set {
		if sv, ok := s.f.Value.(pflag.SliceValue); ok {
			err = sv.Replace(s.slice)
		} else {
			err = s.f.Value.Set(s.value)
		}
		if err != nil {
			return fmt.Errorf("--%s: %w", s.f.Name, err)
		}
	}
	return nil
}
