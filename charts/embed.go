// Package charts embeds the Helm chart, so that the kestra-guard binary can
// render its configuration from a chart values file (`--values`).
package charts

import "embed"

// FS holds kestra-guard/ (the chart), helper templates included.
//
//go:embed all:kestra-guard
var FS embed.FS
