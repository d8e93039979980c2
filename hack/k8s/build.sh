#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries, etcd and helm from the Go module proxy into a
# cache outside the repository, skipping what is already built. Prints the bin directory last.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${MODELPILOT_CACHE:-$HOME/.cache/modelpilot}"
bin="$cache/k8s/$K8S_VERSION/bin"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-mod=mod

build() {  # build MODULE_DIR PACKAGE OUTPUT_NAME
  local dir="$1" pkg="$2" out="$3"
  if [[ -x "$bin/$out" ]]; then
    echo "k8s-bin: $out already built ($bin/$out)" >&2
    return
  fi
  echo "k8s-bin: building $out from $pkg ..." >&2
  local start=$SECONDS
  (cd "$here/$dir" && go build -trimpath -ldflags '-s -w' -o "$bin/$out.tmp" "$pkg")
  mv "$bin/$out.tmp" "$bin/$out"
  echo "k8s-bin: built $out in $((SECONDS - start))s" >&2
}

build kubernetes k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver
build kubernetes k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager
build kubernetes k8s.io/kubernetes/cmd/kube-scheduler kube-scheduler
build kubernetes k8s.io/kubernetes/cmd/kubectl kubectl
build etcd go.etcd.io/etcd/server/v3 etcd
build helm helm.sh/helm/v3/cmd/helm helm
echo "$bin"
