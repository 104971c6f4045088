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
//
// With -rootfs DIR it writes any other image in the same format: the layer is
// DIR's tree (directories, regular files and symbolic links, with their
// permission bits, owned by root, timestamps zero), and -entrypoint, -cmd,
// -env, -user and -workdir give the configuration (an empty value leaves the
// field out). The e2e harness makes its pause and busybox images this way.
//
//	go run ./hack/image -rootfs DIR -tag REPO:TAG -o OUT.tar -entrypoint /pause -cmd '' -env PATH=/bin -user '' -workdir ''
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
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// User is the uid:gid the image runs as, as in the Dockerfile.
const User = "65532:65532"

func main() {
	binary := flag.String("binary", "bin/kestra-guard", "static kestra-guard binary to put at /kestra-guard")
	tag := flag.String("tag", "ghcr.io/kestra-guard/kestra-guard:dev", "image reference to record in the archive")
	out := flag.String("o", "dist/kestra-guard-image.tar", "docker-archive tarball to write")
	arch := flag.String("arch", runtime.GOARCH, "architecture of the binary and the image: amd64 or arm64")
	dir := flag.String("rootfs", "", "a directory whose tree is the image's layer, instead of kestra-guard's binary and user database (-binary is then not read)")
	c := kestraGuardConfig
	flag.StringVar(&c.Entrypoint, "entrypoint", c.Entrypoint, "the image's entrypoint, its arguments separated by commas; empty: none")
	flag.StringVar(&c.Cmd, "cmd", c.Cmd, "the image's command, its arguments separated by commas; empty: none")
	flag.StringVar(&c.Env, "env", c.Env, "the image's environment, NAME=VALUE entries separated by commas; empty: none")
	flag.StringVar(&c.User, "user", c.User, "the uid:gid the image runs as; empty: the runtime's default (root)")
	flag.StringVar(&c.WorkingDir, "workdir", c.WorkingDir, "the image's working directory; empty: none")
	flag.Parse()
	var err error
	if *dir != "" {
		err = runRootfs(*dir, *tag, *out, *arch, c)
	} else {
		err = run(*binary, *tag, *out, *arch, c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// config is the part of the image configuration the flags set; each list is
// written comma-separated.
type config struct {
	Entrypoint, Cmd, Env, User, WorkingDir string
}

// kestraGuardConfig is the Dockerfile's USER, ENTRYPOINT and CMD.
var kestraGuardConfig = config{Entrypoint: "/kestra-guard", Cmd: "serve", Env: "PATH=/", User: User, WorkingDir: "/"}

func run(binary, tag, out, arch string, c config) error {
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
	return write(layer, tag, out, arch, c, "hack/image: /kestra-guard, /etc/passwd, /etc/group; USER "+c.User)
}

// runRootfs writes an image whose layer is dir's tree.
func runRootfs(dir, tag, out, arch string, c config) error {
	if _, ok := machines[arch]; !ok {
		return fmt.Errorf("architecture %q: expected amd64 or arm64", arch)
	}
	layer, err := dirLayer(dir)
	if err != nil {
		return err
	}
	return write(layer, tag, out, arch, c, fmt.Sprintf("hack/image -rootfs: entrypoint %q, cmd %q, env %q, user %q, workdir %q", c.Entrypoint, c.Cmd, c.Env, c.User, c.WorkingDir))
}

// write writes the docker-archive: the layer, the configuration, the manifest.
func write(layer []byte, tag, out, arch string, c config, createdBy string) error {
	layerSum := digest(layer)
	config, err := json.Marshal(imageConfig(layerSum, arch, c, createdBy))
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
	user := c.User
	if user == "" {
		user = "default"
	}
	fmt.Printf("%s: %s (image id sha256:%s, user %s)\n", out, tag, configSum, user)
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

// dirLayer is dir's tree as a layer, in lexical order: directories, regular
// files and symbolic links with their permission bits (setuid, setgid and
// sticky included), owned by root, every timestamp zero. Anything else (a
// device, a socket, a pipe) is refused.
func dirLayer(dir string) ([]byte, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("rootfs %s: expected a directory", dir)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		h := &tar.Header{Name: name, Mode: tarMode(info.Mode()), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		switch {
		case info.Mode().IsDir():
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
		case info.Mode()&fs.ModeSymlink != 0:
			if h.Linkname, err = os.Readlink(path); err != nil {
				return err
			}
			h.Typeflag, h.Mode = tar.TypeSymlink, 0o777
		case info.Mode().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
			if err := tw.WriteHeader(h); err != nil {
				return fmt.Errorf("writing %s: %w", name, err)
			}
			if _, err := tw.Write(data); err != nil {
				return fmt.Errorf("writing %s: %w", name, err)
			}
			return nil
		default:
			return fmt.Errorf("rootfs %s: %s is a %s; expected a directory, a regular file or a symbolic link", dir, name, info.Mode().Type())
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// tarMode is m's permission bits with setuid, setgid and sticky as tar
// writes them.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
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

// imageConfig is the OCI/Docker image configuration for the architecture of
// the binary: c's fields, each left out when empty.
func imageConfig(layerSum, arch string, c config, createdBy string) map[string]any {
	cfg := map[string]any{}
	for _, f := range []struct {
		name, value string
		list        bool
	}{
		{"User", c.User, false}, {"Entrypoint", c.Entrypoint, true}, {"Cmd", c.Cmd, true}, {"Env", c.Env, true}, {"WorkingDir", c.WorkingDir, false},
	} {
		switch {
		case f.value == "":
		case f.list:
			cfg[f.name] = strings.Split(f.value, ",")
		default:
			cfg[f.name] = f.value
		}
	}
	return map[string]any{
		"architecture": arch,
		"os":           "linux",
		"created":      time.Unix(0, 0).UTC().Format(time.RFC3339),
		"config":       cfg,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerSum}},
		"history": []map[string]any{{
			"created":    time.Unix(0, 0).UTC().Format(time.RFC3339),
			"created_by": createdBy,
		}},
	}
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
