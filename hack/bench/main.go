// Command bench measures kestra-guard against its peers and the floor, in one
// run with the configurations interleaved, and writes BENCHMARKS.md:
//
//  1. rule evaluation against Pod Security Admission (go test -bench);
//  2. the webhook's HTTPS path against an always-allow webhook behind the
//     same server stack (controller-runtime's webhook server), both as
//     separate processes;
//  3. Pod creation end to end through the real kube-apiserver with no
//     policy, kestra-guard (on a Pod it patches and on one it leaves
//     unchanged), always-allow webhooks of the same shape, and a
//     ValidatingAdmissionPolicy in CEL, each bound to its own namespace;
//  4. kestra-guard's resident memory idle, under load and after 100k reviews.
//
// `make bench` runs it. `bench allow-server` is the always-allow webhook.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kestra-guard/kestra-guard/hack/internal/benchkit"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "allow-server" {
		if err := allowServer(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "allow-server:", err)
			os.Exit(1)
		}
		return
	}
	ctrl.SetLogger(logr.Discard()) // the control plane's own logs are not the measurement
	out := flag.String("out", filepath.Join(framework.RepoRoot(), "BENCHMARKS.md"), "report file")
	rounds := flag.Int("rounds", 5, "interleaved rounds of each measurement")
	reviews := flag.Int("reviews", 100_000, "reviews sent before the last memory reading")
	profile := flag.String("cpuprofile", "", "write a CPU profile of kestra-guard serve under validate and mutate load to this file, then stop")
	apiProfile := flag.String("apiserver-cpuprofile", "", "write a 20 s CPU profile of kube-apiserver while it admits the Pods of section 3's configuration -profile-config to this file, then stop")
	profileConfig := flag.String("profile-config", e2eInTree, "the configuration of section 3 that -apiserver-cpuprofile loads")
	e2eOnly := flag.Bool("e2e-only", false, "run section 3 alone and print its table, writing no report (to compare changes of the in-tree policies or the webhooks quickly)")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if _, err := section3Config(*profileConfig); *apiProfile != "" && err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	r := &report{started: time.Now(), rounds: *rounds, cpuProfile: *profile, apiserverProfile: *apiProfile, profileConfig: *profileConfig, e2eOnly: *e2eOnly}
	if err := run(ctx, r, *reviews); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	switch {
	case *profile != "":
		fmt.Println("bench: wrote", *profile, "- read it with: go tool pprof -top bin/kestra-guard", *profile)
		return
	case *apiProfile != "":
		fmt.Println("bench: wrote", *apiProfile, "- read it with: go tool pprof -top", *apiProfile)
		return
	case *e2eOnly:
		fmt.Print(r.e2eTable(), "\n", r.inTreeVerdict(), "\n")
		return
	}
	if err := os.WriteFile(*out, []byte(r.markdown()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Print(r.summary())
	fmt.Println("bench: wrote", *out)
}

// section3Config is section 3's configuration named name.
func section3Config(name string) (e2eConfig, error) {
	i := slices.IndexFunc(e2eConfigs, func(c e2eConfig) bool { return c.name == name })
	if i < 0 {
		names := make([]string, len(e2eConfigs))
		for j, c := range e2eConfigs {
			names[j] = strconv.Quote(c.name)
		}
		return e2eConfig{}, fmt.Errorf("-profile-config %q: expected one of %s", name, strings.Join(names, ", "))
	}
	return e2eConfigs[i], nil
}

func step(format string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...) }

func run(ctx context.Context, r *report, reviews int) error {
	if r.cpuProfile == "" && r.apiserverProfile == "" && !r.e2eOnly {
		step("rule evaluation (go test -bench)")
		if err := r.ruleBench(); err != nil {
			return err
		}
	}
	step("building bin/kestra-guard")
	bin := filepath.Join(framework.RepoRoot(), "bin", "kestra-guard")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/kestra-guard")
	build.Dir, build.Stderr, build.Env = framework.RepoRoot(), os.Stderr, append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return fmt.Errorf("building kestra-guard: %w", err)
	}
	step("starting the control plane, kestra-guard and the always-allow webhook")
	env, err := startEnv(ctx, bin)
	if err != nil {
		return err
	}
	defer env.stop()
	r.versions = env.versions
	r.rssIdle = env.guard.rss()
	if r.cpuProfile != "" {
		return env.profile(ctx, r.cpuProfile)
	}
	if r.apiserverProfile != "" {
		c, err := section3Config(r.profileConfig)
		if err != nil {
			return err
		}
		return env.apiserverProfile(ctx, c, r.apiserverProfile)
	}

	// Section 3 runs before section 2, whose pin leaves the Go runtimes of
	// the pinned processes at GOMAXPROCS 1 (it lowers it under the pin and
	// does not raise it again): end to end meets processes that use every CPU.
	step("end to end through kube-apiserver, %d interleaved rounds", r.rounds)
	if err := r.e2eBench(ctx, env); err != nil {
		return err
	}
	if r.e2eOnly {
		return nil
	}
	step("HTTPS path: saturation and fixed rate, %d interleaved rounds", r.rounds)
	if err := r.httpsBench(ctx, env); err != nil {
		return err
	}
	step("memory after %d reviews", reviews)
	return r.memoryBench(ctx, env, reviews)
}

func hostInfo() string {
	model := benchkit.CPUModel()
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1] + " kB RAM"
	}
	return fmt.Sprintf("%d CPUs (%s), %s", numCPU(), model, mem)
}
