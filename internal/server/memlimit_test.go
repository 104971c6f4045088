package server

import (
	"strings"
	"testing"
)

func TestSoftMemoryLimit(t *testing.T) {
	for name, tc := range map[string]struct {
		env     map[string]string
		want    int64
		wantErr string
	}{
		"chart's 256Mi":       {env: map[string]string{MemoryLimitEnv: "268435456"}, want: 241591905},
		"GOMEMLIMIT wins":     {env: map[string]string{MemoryLimitEnv: "268435456", "GOMEMLIMIT": "100MiB"}},
		"outside a container": {env: map[string]string{}},
		"a quantity":          {env: map[string]string{MemoryLimitEnv: "256Mi"}, wantErr: `KESTRA_GUARD_MEMORY_LIMIT: "256Mi": expected the container's memory limit as a positive number of bytes`},
		"zero":                {env: map[string]string{MemoryLimitEnv: "0"}, wantErr: `"0": expected`},
		"negative":            {env: map[string]string{MemoryLimitEnv: "-1"}, wantErr: `"-1": expected`},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := SoftMemoryLimit(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("SoftMemoryLimit = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}
