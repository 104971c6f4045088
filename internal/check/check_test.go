package check

import (
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/config"
)

// compiled is the default configuration, compiled as the commands compile it.
func compiled(t testing.TB) *config.Compiled {
	t.Helper()
	cfg := config.Default()
	c, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
