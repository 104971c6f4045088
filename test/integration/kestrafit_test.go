package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/cli"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
	"github.com/kestra-guard/kestra-guard/test/podspec"
)

// containerSpecPod is Kestra's docs' task-runner example: containerSpec
// gives main runAsUser: 1000, the file containers get nothing.
func containerSpecPod(ns, name string) *corev1.Pod {
	p := kestraDefaultPod(ns, name)
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000)}
	return p
}

// pythonTaskPod is a Script task's Pod (Python): the script uploaded by
// init-files, pip install in beforeCommands, Kestra's Python env.
func pythonTaskPod(ns, name string) *corev1.Pod {
	p := kestraDefaultPod(ns, name)
	main := &p.Spec.Containers[0]
	main.WorkingDir = "/kestra/working-dir"
	main.Command = []string{"/bin/sh", "-c", "set -e\npip install requests\npython main.py"}
	main.Env = []corev1.EnvVar{{Name: "WORKING_DIR", Value: "/kestra/working-dir"}, {Name: "PYTHONUNBUFFERED", Value: "true"},
		{Name: "PIP_ROOT_USER_ACTION", Value: "ignore"}, {Name: "PIP_DISABLE_PIP_VERSION_CHECK", Value: "1"}}
	p.Spec.Containers[1].WorkingDir = "/kestra/working-dir"
	return p
}

// runCheck runs `kestra-guard check` on p written as YAML.
func runCheck(t *testing.T, p *corev1.Pod) (int, string) {
	t.Helper()
	p = p.DeepCopy()
	p.APIVersion, p.Kind = "v1", "Pod"
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), p.Name+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := cli.Execute(context.Background(), cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, []string{"check", path}, nil)
	return code, out.String() + errOut.String()
}

// Kestra's Pods keep working once hardened: every container shares one
// identity (so /kestra/working-dir stays writable) and has a writable HOME;
// check and audit mode give the verdict enforce gives.
func TestKestraTasksKeepWorking(t *testing.T) {
	g := framework.RunGuarded(t, nil, nil)
	ctx := context.Background()
	g.CreateNamespace(t, "kestra-runners", map[string]string{scope.RunnerLabel: "true"})
	g.CreateNamespace(t, "kestra-audit", map[string]string{scope.RunnerLabel: "true", scope.ModeLabel: "audit"})

	for name, tc := range map[string]struct {
		pod  *corev1.Pod
		want string
	}{
		"Kestra's default Pod":            {kestraDefaultPod("kestra-runners", "default-pod"), "65532:65532"},
		"the docs' containerSpec example": {containerSpecPod("kestra-runners", "container-spec"), "1000:65532"},
		"a Python task":                   {pythonTaskPod("kestra-runners", "python"), "65532:65532"},
	} {
		t.Run(name+" is mutated into one identity with HOME set", func(t *testing.T) {
			if err := g.Client.Create(ctx, tc.pod.DeepCopy()); err != nil {
				t.Fatalf("want admitted: %v", err)
			}
			var got corev1.Pod
			if err := g.Client.Get(ctx, client.ObjectKeyFromObject(tc.pod), &got); err != nil {
				t.Fatal(err)
			}
			// The start gate comes first; it runs as its image's own user, shares
			// no file and needs no HOME. Every other container shares one identity.
			if len(got.Spec.InitContainers) == 0 || got.Spec.InitContainers[0].Name != policy.GateContainerName {
				t.Fatalf("the start gate is not the first init container: %v", got.Spec.InitContainers)
			}
			cs := append(append([]corev1.Container{}, got.Spec.InitContainers[1:]...), got.Spec.Containers...)
			for i := range cs {
				c := &cs[i]
				if id := podspec.Identity(&got, c); id != tc.want {
					t.Errorf("container %s runs as %s, want %s like every other", c.Name, id, tc.want)
				}
				home := "unset"
				for _, e := range c.Env {
					if e.Name == "HOME" {
						home = e.Value
					}
				}
				if home != "/tmp" {
					t.Errorf("container %s: HOME=%s, want /tmp", c.Name, home)
				}
				if !slicesHasMount(c, "/tmp") {
					t.Errorf("container %s has no writable /tmp", c.Name)
				}
			}
			if code, out := runCheck(t, tc.pod); code != 0 || !strings.Contains(out, "would set spec.containers[0].env[HOME]=/tmp") || strings.Contains(out, "(deny: ") {
				t.Errorf("check: exit %d, want 0 with the would-set list and no denial:\n%s", code, out)
			}
		})
	}

	t.Run("check denies what enforce denies", func(t *testing.T) {
		bad := badPod("kestra-runners", "bad")
		err := g.Client.Create(ctx, bad.DeepCopy())
		if !apierrors.IsForbidden(err) {
			t.Fatalf("want Forbidden, got %v", err)
		}
		code, out := runCheck(t, bad)
		if code != 1 {
			t.Errorf("check: exit %d, want 1:\n%s", code, out)
		}
		for _, want := range []string{"no-host-network: spec.hostNetwork", "no-host-path: spec.volumes[1].hostPath.path", "run-as-non-root: spec.securityContext.runAsUser"} {
			if !strings.Contains(out, want) || !strings.Contains(err.Error(), want) {
				t.Errorf("check and the API server should both name %q:\ncheck: %s\nAPI: %v", want, out, err)
			}
		}
	})

	t.Run("audit mode warns of what enforce would do, and nothing more", func(t *testing.T) {
		g.Warnings.Take()
		if err := g.WarnClient.Create(ctx, pythonTaskPod("kestra-audit", "python")); err != nil {
			t.Fatalf("audit mode must admit: %v", err)
		}
		warnings := g.Warnings.Take()
		all := strings.Join(warnings, "\n")
		for _, want := range []string{
			"kestra-guard audit: would set spec.securityContext.runAsUser=65532",
			"kestra-guard audit: would set spec.containers[0].env[HOME]=/tmp",
			"kestra-guard audit: would set spec.automountServiceAccountToken=false",
		} {
			if !strings.Contains(all, want) {
				t.Errorf("warnings lack %q:\n%s", want, all)
			}
		}
		for _, w := range warnings {
			if strings.Contains(w, "enforce would deny") || strings.Contains(w, "warns ") {
				t.Errorf("warning for what enforce admits: %s", w)
			}
		}
	})
}

func slicesHasMount(c *corev1.Container, dir string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir {
			return true
		}
	}
	return false
}
