package server

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/kestra-guard/kestra-guard/internal/config"
)

// DefaultCacheOptions are the manager's cache options (cacheOptions) for
// the default configuration; exported for the tests of package server_test
// too (which may import test/framework: it imports this package).
func DefaultCacheOptions(t testing.TB) cache.Options {
	t.Helper()
	c := config.Default()
	cfg, err := c.Compile()
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cacheOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}
