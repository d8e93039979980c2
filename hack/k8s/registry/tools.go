//go:build tools

// Package tools records the registry command this module builds: CNCF Distribution, the
// OCI registry a release is pushed to and the local node pulls from.
package tools

import _ "github.com/distribution/distribution/v3/cmd/registry"
