package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/test/podspec"
)

func allContainers(p *corev1.Pod) []*corev1.Container {
	var out []*corev1.Container
	for i := range p.Spec.InitContainers {
		out = append(out, &p.Spec.InitContainers[i])
	}
	for i := range p.Spec.Containers {
		out = append(out, &p.Spec.Containers[i])
	}
	return out
}

// Every container of a mutated Pod runs with one identity: the configured
// one, or the one a container set explicitly (Kestra's containerSpec
// example), so that init-files and main can share the working dir.
func TestMutateOneIdentityPerPod(t *testing.T) {
	e := testEngine(t, nil)
	base := loadPod(t, "testdata/pods/kestra-default.yaml")
	for name, tc := range map[string]struct {
		tweak            func(*corev1.Pod)
		uid, gid, fsGrp  string
		rulesAfterMutate string
	}{
		"kestra default": {func(*corev1.Pod) {}, "65532", "65532", "65532", ""},
		"containerSpec runAsUser 1000 on main": {func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000)}
		}, "1000", "65532", "65532", ""},
		"runAsGroup 2000 on main": {func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](2000)}
		}, "1000", "2000", "2000", ""},
		"runAsUser on the init container only": {func(p *corev1.Pod) {
			p.Spec.InitContainers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1001)}
		}, "1001", "65532", "65532", ""},
		"regular containers win over init": {func(p *corev1.Pod) {
			p.Spec.InitContainers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1001)}
			p.Spec.Containers[1].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1002)}
		}, "1002", "65532", "65532", "unshared"},
		"Pod-level runAsGroup is the fsGroup": {func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsGroup: ptr.To[int64](3000)}
		}, "65532", "3000", "3000", ""},
		"runAsUser 0 is not an identity to share": {func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)}
		}, "65532", "65532", "65532", "run-as-non-root"},
	} {
		t.Run(name, func(t *testing.T) {
			p := tweak(base, tc.tweak)
			e.Options().Mutate(p, ScopePod)
			sc := p.Spec.SecurityContext
			if got := fmt.Sprint(*sc.FSGroup); got != tc.fsGrp {
				t.Errorf("fsGroup = %s, want %s", got, tc.fsGrp)
			}
			var ids []string
			for _, c := range allContainers(p) {
				id := podspec.Identity(p, c)
				ids = append(ids, c.Name+"="+id)
				if want := tc.uid + ":" + tc.gid; id != want && tc.rulesAfterMutate == "" {
					t.Errorf("container %s runs as %s, want %s", c.Name, id, want)
				}
			}
			switch got := ruleIDs(evaluate(e, p).Violations); {
			case tc.rulesAfterMutate == "unshared":
				// Two explicit uids: mutation cannot reconcile them; the
				// Pod's own choice wins and main keeps its explicit value.
				if !slices.Contains(ids, "main=1002:65532") {
					t.Errorf("identities = %v, want main to take the Pod's 1002", ids)
				}
			case got != tc.rulesAfterMutate:
				t.Errorf("violations after mutation = %q, want %q", got, tc.rulesAfterMutate)
			}
		})
	}
}

// Every container gets HOME=/tmp unless it sets HOME or has envFrom.
func TestMutateEnv(t *testing.T) {
	home := func(c *corev1.Container) string {
		for _, e := range c.Env {
			if e.Name == "HOME" {
				return e.Value
			}
		}
		return "unset"
	}
	for name, tc := range map[string]struct {
		cfg   func(*Config)
		tweak func(*corev1.Pod)
		want  map[string]string // container name: HOME
	}{
		"default pod": {nil, func(*corev1.Pod) {}, map[string]string{"init-files": "/tmp", "main": "/tmp", "out-files": "/tmp"}},
		"explicit HOME is kept": {nil, func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "WORKING_DIR", Value: "/kestra/working-dir"}, {Name: "HOME", Value: "/kestra/home"}}
		}, map[string]string{"init-files": "/tmp", "main": "/kestra/home", "out-files": "/tmp"}},
		"HOME from a Secret is kept": {nil, func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "HOME", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "h"}}}}
		}, map[string]string{"init-files": "/tmp", "main": "", "out-files": "/tmp"}},
		"envFrom is left alone": {nil, func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{}}}
		}, map[string]string{"init-files": "/tmp", "main": "unset", "out-files": "/tmp"}},
		"other env is appended to": {nil, func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PYTHONUNBUFFERED", Value: "1"}}
		}, map[string]string{"init-files": "/tmp", "main": "/tmp", "out-files": "/tmp"}},
		"empty env disables": {func(c *Config) { c.Mutation.Env = nil }, func(*corev1.Pod) {},
			map[string]string{"init-files": "unset", "main": "unset", "out-files": "unset"}},
		"configured value": {func(c *Config) { c.Mutation.Env = EnvMap{"HOME": "/scratch"} }, func(*corev1.Pod) {},
			map[string]string{"init-files": "/scratch", "main": "/scratch", "out-files": "/scratch"}},
	} {
		t.Run(name, func(t *testing.T) {
			e := testEngine(t, tc.cfg)
			p := tweak(loadPod(t, "testdata/pods/kestra-default.yaml"), tc.tweak)
			changes := e.Options().Mutate(p, ScopePod).Changes
			for _, c := range allContainers(p) {
				if got := home(c); got != tc.want[c.Name] {
					t.Errorf("container %s: HOME=%s, want %s", c.Name, got, tc.want[c.Name])
				}
			}
			if tc.want["main"] == "/tmp" && !slices.Contains(changes, "spec.containers[0].env[HOME]=/tmp") {
				t.Errorf("changes do not report main's HOME: %v", changes)
			}
		})
	}
	t.Run("ephemeral containers get it too", func(t *testing.T) {
		e := testEngine(t, nil)
		p := tweak(minimalPod(), func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		})
		changes := e.Options().Mutate(p, ScopeEphemeral).Changes
		if !slices.Contains(changes, "spec.ephemeralContainers[0].env[HOME]=/tmp") {
			t.Errorf("changes = %v, want HOME on the ephemeral container", changes)
		}
	})
}

// A Pod that names its own ServiceAccount keeps the token (and the warning).
func TestMutateServiceAccountToken(t *testing.T) {
	for name, tc := range map[string]struct {
		sa        string
		keep      bool
		wantUnset bool
	}{
		"no service account":                   {"", true, false},
		"the default service account":          {"default", true, false},
		"an explicit service account":          {"kestra-api", true, true},
		"explicit, keeping the token disabled": {"kestra-api", false, false},
	} {
		t.Run(name, func(t *testing.T) {
			e := testEngine(t, func(c *Config) { c.Mutation.KeepTokenForServiceAccount = tc.keep })
			p := tweak(loadPod(t, "testdata/pods/kestra-default.yaml"), func(p *corev1.Pod) { p.Spec.ServiceAccountName = tc.sa })
			e.Options().Mutate(p, ScopePod)
			a := p.Spec.AutomountServiceAccountToken
			if got := a == nil; got != tc.wantUnset {
				t.Fatalf("automountServiceAccountToken = %v, want unset %v", a, tc.wantUnset)
			}
			got := ruleIDs(evaluate(e, p).Violations)
			if want := map[bool]string{true: "no-service-account-token", false: ""}[tc.wantUnset]; got != want {
				t.Errorf("violations after mutation = %q, want %q", got, want)
			}
		})
	}
}

// The configuration file replaces the env map as a whole: `env: {}`
// disables HOME, a map of its own drops the default; names are checked.
func TestMutationEnvConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		yaml string
		want string
		err  string
	}{
		"default":                            {"{}", "map[HOME:/tmp]", ""},
		"empty disables":                     {"mutation: {env: {}}", "map[]", ""},
		"null disables":                      {"mutation: {env: null}", "map[]", ""},
		"replaces":                           {"mutation: {env: {XDG_CACHE_HOME: /tmp/.cache}}", "map[XDG_CACHE_HOME:/tmp/.cache]", ""},
		"bad name":                           {"mutation: {env: {\"A=B\": x}}", "", "mutation.env.A=B: expected an environment variable name"},
		"keepTokenForServiceAccount is read": {"mutation: {keepTokenForServiceAccount: false}", "map[HOME:/tmp]", ""},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			if err := yaml.UnmarshalStrict([]byte(tc.yaml), &cfg); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Validate() = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(map[string]string(cfg.Mutation.Env)); got != tc.want {
				t.Errorf("env = %s, want %s", got, tc.want)
			}
		})
	}
}
