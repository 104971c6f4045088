package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/kestra-guard/kestra-guard/internal/gate"
)

// Config is the policy part of kestra-guard's configuration file.
type Config struct {
	// Rules overrides a rule's default action, by rule ID.
	Rules map[string]Action `json:"rules,omitempty"`
	// RuleSetVersion is the rule set a namespace without a
	// kestra-guard.io/enforce-version label is judged by: latest or a
	// version (versions.go).
	RuleSetVersion string `json:"ruleSetVersion,omitempty"`
	// UnpinnedRules are judged as in latest whatever a namespace's rule-set
	// version: the security floor a pin cannot lower.
	UnpinnedRules []string `json:"unpinnedRules,omitempty"`
	// HostPathAllowList lists host paths a Pod may mount read-only.
	HostPathAllowList []string `json:"hostPathAllowList,omitempty"`
	// MetadataCIDRs are the ranges no task-runner Pod may reach.
	MetadataCIDRs []string `json:"metadataCIDRs,omitempty"`
	// MetadataHostnames are names that resolve to a metadata service.
	MetadataHostnames []string `json:"metadataHostnames,omitempty"`
	// AllowedRegistries are image prefixes the allowed-registries rule accepts.
	AllowedRegistries []string `json:"allowedRegistries,omitempty"`
	// NodeLocalDNS are DNS servers inside a metadata range (NodeLocal
	// DNSCache's 169.254.20.10) that task runners may reach on port 53, UDP
	// and TCP, and nothing else: the managed policy allows them and the
	// egress analysis does not count such a rule as a reopening.
	NodeLocalDNS []string `json:"nodeLocalDNS,omitempty"`
	// Mutation holds the values the mutating webhook fills in.
	Mutation MutationConfig `json:"mutation"`
	// StartGate is the init container mutation puts first in a guarded Pod.
	StartGate StartGateConfig `json:"startGate"`

	// APIAudiences are the audiences the API server accepts (its
	// --api-audiences): a projected token for one of them is an API token
	// to no-service-account-token, as one with no audience always is.
	APIAudiences []string `json:"apiAudiences,omitempty"`
}

// StartGateConfig configures the start gate (internal/gate): the first init
// container of every guarded Pod, which lets the Pod's other containers
// start only once each endpoint is unreachable from the Pod.
type StartGateConfig struct {
	// Enabled adds the gate (it needs Image) and makes start-gate require it.
	Enabled bool `json:"enabled"`
	// Image is kestra-guard's own image; the chart sets it, by digest when
	// it has one.
	Image           string            `json:"image,omitempty"`
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// Endpoints are the host:port addresses the gate must find unreachable;
	// each must lie in a metadata range. Empty: DefaultGateEndpoints.
	Endpoints []string `json:"endpoints,omitempty"`
	// Consecutive failed attempts in a row make an endpoint blocked.
	Consecutive    int             `json:"consecutive"`
	AttemptTimeout metav1.Duration `json:"attemptTimeout"`
	Interval       metav1.Duration `json:"interval"`
	// Timeout bounds the wait; then the gate fails and the Pod with it.
	Timeout metav1.Duration `json:"timeout"`
	// Canary, when set, is a host:port outside the metadata ranges that
	// must answer in the same round for that round's failures to count
	// (the API server's Service address, for instance).
	Canary string `json:"canary,omitempty"`
}

// UnmarshalJSON reads an action, taking false as off: YAML 1.1 reads an
// unquoted off (or no) as the boolean false, which reaches here as false or,
// converted for a string field, as "false".
func (a *Action) UnmarshalJSON(b []byte) error {
	var s string
	if string(b) == "false" {
		s = "false"
	} else if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("action %s: expected deny, warn or off", b)
	}
	if s == "false" {
		s = string(Off)
	}
	*a = Action(s)
	return nil
}

// MutationConfig holds the identity, sizes and environment mutation gives a Pod.
type MutationConfig struct {
	RunAsUser  int64  `json:"runAsUser"`
	RunAsGroup int64  `json:"runAsGroup"`
	FSGroup    int64  `json:"fsGroup"`
	TmpSize    string `json:"tmpSize,omitempty"`
	// Env is set on every container that sets none of these names itself
	// and has no envFrom (default HOME=/tmp); empty disables it.
	Env EnvMap `json:"env"`
	// KeepTokenForServiceAccount leaves automountServiceAccountToken unset
	// on a Pod that names a ServiceAccount other than "default".
	KeepTokenForServiceAccount bool `json:"keepTokenForServiceAccount"`
}

// EnvMap is a map of environment variables that a configuration file
// replaces as a whole (json would merge it into the defaults), so that
// `env: {}` disables the default HOME.
type EnvMap map[string]string

func (e *EnvMap) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*e = m
	return nil
}

// DefaultMetadataCIDRs covers every metadata endpoint of the README's table
// (each with its source there): all of link-local (AWS, GCP, Azure, Oracle,
// Akamai, OpenStack, Scaleway, Tencent, ECS, EKS Pod Identity), the IPv6
// endpoints of AWS, GCP, Oracle, Akamai, Alibaba and Scaleway, Azure
// WireServer, Alibaba Cloud and Oracle Classic.
var DefaultMetadataCIDRs = []string{
	"169.254.0.0/16",
	"fe80::/10",
	"fd00:ec2::254/128",
	"fd00:ec2::23/128",
	"fd20:ce::254/128",
	"fd00:c1::a9fe:a9fe/128",
	"fd00:a9fe:a9fe::1/128",
	"fd00:100::100:200/128",
	"fd00:42::42/128",
	"168.63.129.16/32",
	"100.100.100.200/32",
	"192.0.0.192/32",
}

// DefaultNodeLocalDNS is NodeLocal DNSCache's address in the Kubernetes docs
// (and on GKE and EKS).
var DefaultNodeLocalDNS = []string{"169.254.20.10"}

// DefaultGateEndpoints are the metadata services' HTTP endpoints: the gate
// waits until every one is unreachable.
var DefaultGateEndpoints = []string{
	"169.254.169.254:80",
	"169.254.170.2:80",
	"169.254.170.23:80",
	"169.254.42.42:80",
	"169.254.0.23:80",
	"[fd00:ec2::254]:80",
	"[fd00:ec2::23]:80",
	"[fd20:ce::254]:80",
	"[fd00:c1::a9fe:a9fe]:80",
	"[fd00:a9fe:a9fe::1]:80",
	"[fd00:100::100:200]:80",
	"[fd00:42::42]:80",
	"168.63.129.16:80",
	"100.100.100.200:80",
	"192.0.0.192:80",
}

// DefaultMetadataHostnames are DNS names of metadata services.
var DefaultMetadataHostnames = []string{"metadata.google.internal", "instance-data.ec2.internal"}

// DefaultConfig returns the configuration kestra-guard runs with when none is given.
func DefaultConfig() Config {
	return Config{
		RuleSetVersion:    Latest,
		UnpinnedRules:     []string{StartGateID},
		MetadataCIDRs:     append([]string(nil), DefaultMetadataCIDRs...),
		MetadataHostnames: append([]string(nil), DefaultMetadataHostnames...),
		APIAudiences:      append([]string(nil), DefaultAPIAudiences...),
		NodeLocalDNS:      append([]string(nil), DefaultNodeLocalDNS...),
		StartGate: StartGateConfig{Consecutive: 3, ImagePullPolicy: corev1.PullIfNotPresent,
			AttemptTimeout: metav1.Duration{Duration: 500 * time.Millisecond},
			Interval:       metav1.Duration{Duration: 200 * time.Millisecond},
			Timeout:        metav1.Duration{Duration: 2 * time.Minute}},
		Mutation: MutationConfig{RunAsUser: 65532, RunAsGroup: 65532, FSGroup: 65532, TmpSize: "1Gi",
			Env: EnvMap{"HOME": "/tmp"}, KeepTokenForServiceAccount: true},
	}
}

// Options is Config compiled for evaluation.
type Options struct {
	HostPathAllowList []string
	// Metadata are the metadata ranges, with the NAT64 image
	// (64:ff9b::/96) of each IPv4 one: see metadataRanges.
	Metadata []netip.Prefix
	// DNS are the node-local DNS addresses task runners may reach on port 53.
	DNS               []netip.Addr
	MetadataHostnames []string
	AllowedRegistries []string
	Mutation          MutationConfig
	// env is Mutation.Env sorted by name, so that patches are stable.
	env []corev1.EnvVar
	// openings caches PolicyOpenings per policy version (nil: no cache).
	openings *openingsCache
	// Gate is the start gate's container, nil when the gate is off.
	Gate *corev1.Container
	// gatePatch is Gate as JSON: alone, and in a list of one.
	gatePatch, gateListPatch json.RawMessage

	// APIAudiences are Config.APIAudiences (see api_audiences.go).
	APIAudiences []string
}

// Validate returns every error of cfg, each with its field path.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

func (c Config) compile() (*Options, error) {
	var errs []error
	o := &Options{Mutation: c.Mutation, AllowedRegistries: c.AllowedRegistries, openings: &openingsCache{}}
	for _, id := range slices.Sorted(maps.Keys(c.Rules)) {
		a := c.Rules[id]
		if _, ok := RuleByID(id); !ok {
			errs = append(errs, fmt.Errorf("rules.%s: unknown rule ID", id))
		}
		if a != Deny && a != Warn && a != Off {
			errs = append(errs, fmt.Errorf("rules.%s: action %q: expected deny, warn or off", id, a))
		}
	}
	for i, p := range c.HostPathAllowList {
		if !strings.HasPrefix(p, "/") {
			errs = append(errs, fmt.Errorf("hostPathAllowList[%d]: %q: expected an absolute path", i, p))
			continue
		}
		o.HostPathAllowList = append(o.HostPathAllowList, path.Clean(p))
	}
	if len(c.MetadataCIDRs) == 0 {
		errs = append(errs, errors.New("metadataCIDRs: expected at least one CIDR"))
	}
	o.Metadata, errs = metadataRanges(c.MetadataCIDRs, errs)
	for i, s := range c.NodeLocalDNS {
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("nodeLocalDNS[%d]: %q: expected an IP address such as 169.254.20.10", i, s))
			continue
		case slices.Contains(knownEndpoints, a.Unmap()):
			errs = append(errs, fmt.Errorf("nodeLocalDNS[%d]: %q is a metadata endpoint: expected a DNS server's own address", i, s))
			continue
		}
		o.DNS = append(o.DNS, a.Unmap())
	}
	errs = o.compileGate(c.StartGate, errs)
	errs = o.compileAPIAudiences(c.APIAudiences, errs)
	errs = c.versionErrors(errs)
	for _, h := range c.MetadataHostnames {
		o.MetadataHostnames = append(o.MetadataHostnames, strings.ToLower(strings.TrimSuffix(h, ".")))
	}
	m := c.Mutation
	for _, f := range []struct {
		name string
		v    int64
	}{{"runAsUser", m.RunAsUser}, {"runAsGroup", m.RunAsGroup}, {"fsGroup", m.FSGroup}} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("mutation.%s: %d: expected a non-root ID above 0", f.name, f.v))
		}
	}
	if _, err := resource.ParseQuantity(m.TmpSize); err != nil {
		errs = append(errs, fmt.Errorf("mutation.tmpSize: %q: expected a quantity such as 1Gi", m.TmpSize))
	}
	for _, name := range slices.Sorted(maps.Keys(m.Env)) {
		if msgs := validation.IsEnvVarName(name); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("mutation.env.%s: expected an environment variable name: %s", name, strings.Join(msgs, "; ")))
			continue
		}
		o.env = append(o.env, corev1.EnvVar{Name: name, Value: m.Env[name]})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return o, nil
}

// metadataRanges parses metadataCIDRs. Each IPv4 range also gets its NAT64
// image in the well-known prefix (64:ff9b::a9fe:a9fe is 169.254.169.254
// through a NAT64 gateway), so that no-metadata-address (which reads a
// NAT64 address as the IPv4 address it embeds), the egress analysis and the
// managed policy's excepts agree. IPv4-mapped ranges are read as the IPv4
// range they map (ParseCIDR); such addresses never travel on the wire.
func metadataRanges(cidrs []string, errs []error) ([]netip.Prefix, []error) {
	var out, images []netip.Prefix
	for i, s := range cidrs {
		p, err := ParseCIDR(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("metadataCIDRs[%d]: %q: expected a CIDR such as 169.254.0.0/16", i, s))
			continue
		}
		out = append(out, p)
		if p.Addr().Is4() {
			b := nat64.Addr().As16()
			a4 := p.Addr().As4()
			copy(b[12:], a4[:])
			images = append(images, netip.PrefixFrom(netip.AddrFrom16(b), 96+p.Bits()))
		}
	}
	// The images come last, so that messages name a native address first.
	return append(out, images...), errs
}

// MetadataRanges is metadataCIDRs as the engine reads them (with NAT64
// images), leaving out what does not parse (Validate reports it).
func MetadataRanges(cidrs []string) []netip.Prefix {
	out, _ := metadataRanges(cidrs, nil)
	return out
}

// GateContainerName is the name of the start gate's init container.
const GateContainerName = "kestra-guard-start-gate"

// compileGate builds the start gate's container once, and its JSON for the
// patch (a value only mutation writes, marshalled by encoding/json).
func (o *Options) compileGate(g StartGateConfig, errs []error) []error {
	if !g.Enabled {
		return errs
	}
	if g.Image == "" {
		errs = append(errs, errors.New("startGate.image: expected kestra-guard's image (the chart sets it) when startGate.enabled is true"))
	}
	switch g.ImagePullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, fmt.Errorf("startGate.imagePullPolicy: %q: expected Always, IfNotPresent or Never", g.ImagePullPolicy))
	}
	endpoints := g.Endpoints
	if len(endpoints) == 0 {
		endpoints = DefaultGateEndpoints
	}
	gc := gate.Config{Endpoints: endpoints, Consecutive: g.Consecutive, AttemptTimeout: g.AttemptTimeout.Duration,
		Interval: g.Interval.Duration, Timeout: g.Timeout.Duration, Canary: g.Canary}
	if err := gc.Validate(); err != nil {
		errs = append(errs, PrefixErrors("startGate.", err)...)
	}
	for i, e := range g.Endpoints {
		if ip, _, err := gate.ParseEndpoint(e); err == nil {
			if a, _ := netip.AddrFromSlice(ip); !o.IsMetadata(a.Unmap()) {
				errs = append(errs, fmt.Errorf("startGate.endpoints[%d]: %q is in no metadataCIDRs range: the managed policy does not block it, so the gate would never pass", i, e))
			}
		}
	}
	if ip, _, err := gate.ParseEndpoint(g.Canary); g.Canary != "" && err == nil {
		if a, _ := netip.AddrFromSlice(ip); o.IsMetadata(a.Unmap()) {
			errs = append(errs, fmt.Errorf("startGate.canary: %q is in a metadataCIDRs range: the managed policy blocks it, so the gate would never pass", g.Canary))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	args := []string{"gate", "--endpoints=" + strings.Join(endpoints, ","), fmt.Sprintf("--consecutive=%d", gc.Consecutive),
		"--attempt-timeout=" + gc.AttemptTimeout.String(), "--interval=" + gc.Interval.String(), "--timeout=" + gc.Timeout.String()}
	if g.Canary != "" {
		args = append(args, "--canary="+g.Canary)
	}
	o.Gate = &corev1.Container{
		Name:            GateContainerName,
		Image:           g.Image,
		ImagePullPolicy: g.ImagePullPolicy,
		Command:         []string{"/kestra-guard"},
		Args:            args,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532),
			ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	var err error
	if o.gatePatch, err = json.Marshal(o.Gate); err == nil {
		o.gateListPatch, err = json.Marshal([]*corev1.Container{o.Gate})
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("startGate: encoding the gate container: %w", err))
	}
	return errs
}

// IsGate reports whether c is the start gate exactly as mutation writes it:
// every field equal, but for the defaults the API server fills in
// (terminationMessagePath). A copy that differs anywhere (a restartPolicy
// that makes it a sidecar the next container does not wait for, a volume
// mounted over the binary, env, probes) is not the gate: mutation puts the
// real one before it, and rules judge it as any container. Rules skip the
// gate's own arguments, which name metadata addresses on purpose.
func (o *Options) IsGate(c *corev1.Container) bool {
	g := o.Gate
	if g == nil || c.Name != g.Name {
		return false // the common case, without a copy
	}
	n := *c
	if n.TerminationMessagePath == corev1.TerminationMessagePathDefault {
		n.TerminationMessagePath = ""
	}
	return equality.Semantic.DeepEqual(&n, g)
}

// PrefixErrors puts p before each error joined in err (config prefixes the
// policy's errors with "policy." the same way).
func PrefixErrors(p string, err error) []error {
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		return []error{fmt.Errorf("%s%w", p, err)}
	}
	var out []error
	for _, e := range joined.Unwrap() {
		out = append(out, fmt.Errorf("%s%w", p, e))
	}
	return out
}
