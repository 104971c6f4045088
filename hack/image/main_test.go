package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An image records the architecture of its binary: a binary built for
// another one is refused instead of shipping an image that fails with
// "exec format error".
func TestImageArchitectureMatchesTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles a binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "arm64")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cross-compiling: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "image.tar")
	if err := run(bin, "test:arm64", out, "arm64"); err != nil {
		t.Fatalf("arm64 binary as arm64: %v", err)
	}
	err := run(bin, "test:amd64", out, "amd64")
	if err == nil || !strings.Contains(err.Error(), "expected EM_X86_64 for architecture amd64") {
		t.Fatalf("arm64 binary as amd64: got %v, want a refusal", err)
	}
	if err := run(bin, "test", out, "riscv64"); err == nil || !strings.Contains(err.Error(), `architecture "riscv64": expected amd64 or arm64`) {
		t.Fatalf("unknown architecture: got %v", err)
	}
}
