// Command image writes kestra-guard's container image as a docker-archive
// tarball (the format `docker save` writes and `docker load`, `podman load`
// and `ctr images import` read) without a Docker engine or a registry.
//
// The image holds what the Dockerfile's distroless/static:nonroot image
// holds that kestra-guard uses: the static binary at /kestra-guard, and
// /etc/passwd and /etc/group naming the non-root user 65532 it runs as.
// There is no shell and nothing else. Every timestamp is zero and every
// entry is owned by root, so the same binary gives the same image digest.
//
// Usage: go run ./hack/image -binary bin/kestra-guard -tag REPO:TAG -o dist/kestra-guard-image.tar
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// User is the uid:gid the image runs as, as in the Dockerfile.
const User = "65532:65532"

func main() {
	binary := flag.String("binary", "bin/kestra-guard", "static kestra-guard binary to put at /kestra-guard")
	tag := flag.String("tag", "ghcr.io/kestra-guard/kestra-guard:dev", "image reference to record in the archive")
	out := flag.String("o", "dist/kestra-guard-image.tar", "docker-archive tarball to write")
	arch := flag.String("arch", runtime.GOARCH, "architecture of the binary and the image: amd64 or arm64")
	flag.Parse()
	if err := run(*binary, *tag, *out, *arch); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(binary, tag, out, arch string) error {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return fmt.Errorf("reading the binary (run make build first): %w", err)
	}
	if len(bin) < 4 || !bytes.Equal(bin[:4], []byte("\x7fELF")) {
		return fmt.Errorf("%s: expected an ELF binary", binary)
	}
	if err := checkArch(bin, arch); err != nil {
		return fmt.Errorf("%s: %w", binary, err)
	}
	layer, err := rootfs(bin)
	if err != nil {
		return err
	}
	layerSum := digest(layer)
	config, err := json.Marshal(imageConfig(layerSum, arch))
	if err != nil {
		return err
	}
	configSum := digest(config)
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   configSum + ".json",
		"RepoTags": []string{tag},
		"Layers":   []string{layerSum + "/layer.tar"},
	}})
	if err != nil {
		return err
	}
	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{layerSum + "/layer.tar", layer},
		{configSum + ".json", config},
		{"manifest.json", manifest},
	} {
		if err := writeFile(tw, f.name, 0o644, f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, archive.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: %s (image id sha256:%s, user %s)\n", out, tag, configSum, User)
	return nil
}

// rootfs is the one layer: the binary and the user database, owned by root.
func rootfs(bin []byte) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, d := range []string{"etc/", "tmp/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")},
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{"kestra-guard", 0o755, bin},
	}
	for _, f := range files {
		if err := writeFile(tw, f.name, f.mode, f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// machines maps an image architecture to the ELF machine its binary must be.
var machines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// checkArch refuses a binary built for another architecture than the image
// records: a runtime would pull it and fail with "exec format error".
func checkArch(bin []byte, arch string) error {
	want, ok := machines[arch]
	if !ok {
		return fmt.Errorf("architecture %q: expected amd64 or arm64", arch)
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("reading ELF header: %w", err)
	}
	if f.Machine != want {
		return fmt.Errorf("binary is %s, expected %s for architecture %s", f.Machine, want, arch)
	}
	return nil
}

// imageConfig is the OCI/Docker image configuration: the Dockerfile's
// USER, ENTRYPOINT and CMD, for the architecture of the binary.
func imageConfig(layerSum, arch string) map[string]any {
	return map[string]any{
		"architecture": arch,
		"os":           "linux",
		"created":      time.Unix(0, 0).UTC().Format(time.RFC3339),
		"config": map[string]any{
			"User":       User,
			"Entrypoint": []string{"/kestra-guard"},
			"Cmd":        []string{"serve"},
			"Env":        []string{"PATH=/"},
			"WorkingDir": "/",
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerSum}},
		"history": []map[string]any{{
			"created":    time.Unix(0, 0).UTC().Format(time.RFC3339),
			"created_by": "hack/image: /kestra-guard, /etc/passwd, /etc/group; USER " + User,
		}},
	}
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
