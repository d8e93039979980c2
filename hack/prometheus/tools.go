//go:build tools

// Package tools records the Prometheus commands this module builds (prometheus, promtool).
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
