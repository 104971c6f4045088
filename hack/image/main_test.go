package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
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
	if err := run(bin, "test:arm64", out, "arm64", kestraGuardConfig); err != nil {
		t.Fatalf("arm64 binary as arm64: %v", err)
	}
	err := run(bin, "test:amd64", out, "amd64", kestraGuardConfig)
	if err == nil || !strings.Contains(err.Error(), "expected EM_X86_64 for architecture amd64") {
		t.Fatalf("arm64 binary as amd64: got %v, want a refusal", err)
	}
	if err := run(bin, "test", out, "riscv64", kestraGuardConfig); err == nil || !strings.Contains(err.Error(), `architecture "riscv64": expected amd64 or arm64`) {
		t.Fatalf("unknown architecture: got %v", err)
	}
}

// -rootfs writes the directory's tree as the layer (modes, symbolic links,
// root ownership, zero timestamps) and the configuration the flags give,
// leaving out empty fields; the same tree gives the same bytes; a tree with
// anything but directories, files and links is refused, naming the entry.
func TestRootfsImage(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), []byte("\x7fELF not really"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(root, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := config{Entrypoint: "/bin/sh,-c", Env: "PATH=/bin"}
	out := filepath.Join(dir, "image.tar")
	if err := runRootfs(root, "e2e.local/busybox:1", out, "amd64", c); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, first)
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 || len(manifest[0].Layers) != 1 {
		t.Fatalf("manifest.json: %s (%v)", files["manifest.json"], err)
	}
	if got := manifest[0].RepoTags; len(got) != 1 || got[0] != "e2e.local/busybox:1" {
		t.Errorf("RepoTags %v", got)
	}
	var cfg struct {
		Architecture string
		Config       map[string]any
		RootFS       struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(files[manifest[0].Config], &cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"Entrypoint": []any{"/bin/sh", "-c"}, "Env": []any{"PATH=/bin"}}
	if !reflect.DeepEqual(cfg.Config, want) || cfg.Architecture != "amd64" {
		t.Errorf("config %v (%s), want %v (amd64): empty flags must leave their field out", cfg.Config, cfg.Architecture, want)
	}
	layer := files[manifest[0].Layers[0]]
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != "sha256:"+digest(layer) {
		t.Errorf("diff_ids %v do not name the layer", cfg.RootFS.DiffIDs)
	}
	type entry struct {
		typ  byte
		mode int64
		link string
	}
	got := map[string]entry{}
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: uid %d gid %d mtime %v, want root and zero", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		got[h.Name] = entry{h.Typeflag, h.Mode, h.Linkname}
	}
	wantLayer := map[string]entry{
		"bin/": {tar.TypeDir, 0o755, ""}, "bin/busybox": {tar.TypeReg, 0o755, ""}, "bin/sh": {tar.TypeSymlink, 0o777, "busybox"},
		"etc/": {tar.TypeDir, 0o755, ""}, "etc/passwd": {tar.TypeReg, 0o644, ""}, "tmp/": {tar.TypeDir, 0o1777, ""},
	}
	if !reflect.DeepEqual(got, wantLayer) {
		t.Errorf("layer entries:\n got %v\nwant %v", got, wantLayer)
	}
	if err := runRootfs(root, "e2e.local/busybox:1", out, "amd64", c); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(again, first) {
		t.Error("the same tree gave different bytes")
	}
	if err := syscall.Mkfifo(filepath.Join(root, "etc", "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runRootfs(root, "x:1", out, "amd64", c); err == nil || !strings.Contains(err.Error(), "etc/fifo is a p---------; expected a directory, a regular file or a symbolic link") {
		t.Errorf("a FIFO in the tree: got %v, want a refusal naming it", err)
	}
	if err := runRootfs(filepath.Join(root, "etc", "passwd"), "x:1", out, "amd64", c); err == nil || !strings.Contains(err.Error(), "expected a directory") {
		t.Errorf("a file as rootfs: got %v", err)
	}
}

func untar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = data
	}
}
