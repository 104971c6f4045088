// Package configtest gives tests the compiled configuration that the
// commands would hand them, so that each test does not build it again.
package configtest

import (
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/config"
)

// Compiled is config.Default() changed by each of mods in turn, compiled;
// a configuration that does not compile fails t.
func Compiled(t testing.TB, mods ...func(*config.Config)) *config.Compiled {
	t.Helper()
	cfg := config.Default()
	for _, mod := range mods {
		mod(&cfg)
	}
	c, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
