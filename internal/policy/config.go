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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Config is the policy part of kestra-guard's configuration file.
type Config struct {
	// Rules overrides a rule's default action, by rule ID.
	Rules map[string]Action `json:"rules,omitempty"`
	// HostPathAllowList lists host paths a Pod may mount read-only.
	HostPathAllowList []string `json:"hostPathAllowList,omitempty"`
	// MetadataCIDRs are the ranges no task-runner Pod may reach.
	MetadataCIDRs []string `json:"metadataCIDRs,omitempty"`
	// MetadataHostnames are names that resolve to a metadata service.
	MetadataHostnames []string `json:"metadataHostnames,omitempty"`
	// AllowedRegistries are image prefixes the allowed-registries rule accepts.
	AllowedRegistries []string `json:"allowedRegistries,omitempty"`
	// Mutation holds the values the mutating webhook fills in.
	Mutation MutationConfig `json:"mutation"`
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

// DefaultMetadataCIDRs covers every metadata endpoint in FACTS.md: all of
// link-local (AWS, GCP, Azure, Oracle, OpenStack, ECS, EKS Pod Identity), the
// IPv6 AWS endpoints, Azure WireServer and Alibaba Cloud.
var DefaultMetadataCIDRs = []string{
	"169.254.0.0/16",
	"fe80::/10",
	"fd00:ec2::254/128",
	"fd00:ec2::23/128",
	"168.63.129.16/32",
	"100.100.100.200/32",
}

// DefaultMetadataHostnames are DNS names of metadata services.
var DefaultMetadataHostnames = []string{"metadata.google.internal", "instance-data.ec2.internal"}

// DefaultConfig returns the configuration kestra-guard runs with when none is given.
func DefaultConfig() Config {
	return Config{
		MetadataCIDRs:     append([]string(nil), DefaultMetadataCIDRs...),
		MetadataHostnames: append([]string(nil), DefaultMetadataHostnames...),
		Mutation: MutationConfig{RunAsUser: 65532, RunAsGroup: 65532, FSGroup: 65532, TmpSize: "1Gi",
			Env: EnvMap{"HOME": "/tmp"}, KeepTokenForServiceAccount: true},
	}
}

// Options is Config compiled for evaluation.
type Options struct {
	HostPathAllowList []string
	Metadata          []netip.Prefix
	MetadataHostnames []string
	AllowedRegistries []string
	Mutation          MutationConfig
	// env is Mutation.Env sorted by name, so that patches are stable.
	env []corev1.EnvVar
	// openings caches PolicyOpenings per policy version (nil: no cache).
	openings *openingsCache
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
	for i, s := range c.MetadataCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("metadataCIDRs[%d]: %q: expected a CIDR such as 169.254.0.0/16", i, s))
			continue
		}
		o.Metadata = append(o.Metadata, p.Masked())
	}
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
