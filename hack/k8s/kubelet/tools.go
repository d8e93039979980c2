//go:build tools

// Package tools records the node command this module builds, so `go mod tidy` keeps it. It is
// a module of its own, with the same pins and staging replaces as ../kubernetes, so that adding
// the kubelet's requirements there does not change the control plane's stamps (every clone
// sharing the cache would relink four binaries).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kubelet"
)
