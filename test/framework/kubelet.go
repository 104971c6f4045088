package framework

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// secretToDisk does out of cluster what the kubelet does for a mounted
// Secret: it keeps the certificate files in the cert folder current, and,
// like the kubelet, only some time after the Secret changed (the first
// files are written at once).
type secretToDisk struct {
	reader client.Reader
	key    types.NamespacedName
	dir    string
}

// kubeletDelay is how long a change of the Secret waits before it is written.
const kubeletDelay = 3 * time.Second

func (s *secretToDisk) Start(ctx context.Context) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var seenVersion string
	var seenAt time.Time
	written := false
	for {
		var sec corev1.Secret
		if err := s.reader.Get(ctx, s.key, &sec); err == nil && len(sec.Data) > 0 {
			if sec.ResourceVersion != seenVersion {
				seenVersion, seenAt = sec.ResourceVersion, time.Now()
			}
			if !written || time.Since(seenAt) >= kubeletDelay {
				if err := writeFiles(s.dir, sec.Data); err != nil {
					return err
				}
				written = true
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// writeFiles writes each changed file through a rename, as the kubelet's
// atomic writer does.
func writeFiles(dir string, files map[string][]byte) error {
	for name, data := range files {
		path := filepath.Join(dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}
