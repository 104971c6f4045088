package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kestra-guard/kestra-guard/internal/version"
)

// BuildInfo is kestra_guard_build_info{version,commit,go_version}, always 1.
func BuildInfo(v version.Info) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kestra_guard_build_info",
		Help: "Always 1; the labels say which build of kestra-guard runs.",
	}, []string{"version", "commit", "go_version"})
	g.WithLabelValues(v.Version, v.Commit, v.GoVersion).Set(1)
	return g
}
