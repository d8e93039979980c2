#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries, etcd and helm from the Go module proxy into a
# cache outside the repository, skipping what is already built. Prints the bin directory last.
# `build.sh node` builds the real node instead: kubelet, kube-proxy, containerd (+ shim, ctr),
# runc and the pause binary (README.md beside this file); `build.sh registry` the OCI registry.
set -euo pipefail
what="${1:-control-plane}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${MODELPILOT_CACHE:-$HOME/.cache/modelpilot}"
bin="$cache/k8s/$K8S_VERSION/bin"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
# Several clones (CI, worktrees, a demo) may share one cache: one builder at a time, so no two
# of them write the same binary's .tmp, and a waiter then finds the stamps and builds nothing.
lock=".build.lock"; [[ "$what" == node ]] && lock=".build-node.lock"
exec 9>"$bin/$lock"
flock 9

# Stamp versions the way the release build does, so `kubectl version` and the apiserver's
# /version report v1.37.2 rather than v0.0.0-master (Helm's kubeVersion checks read it).
k8s_minor="${K8S_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
helm_ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
etcd_ldflags=""

build() {  # build MODULE_DIR PACKAGE OUTPUT_NAME [EXTRA_LDFLAGS] [GO_TAGS] [CGO]
  local dir="$1" pkg="$2" out="$3" extra="${4:-}" tags="${5:-}" cgo="${6:-0}"
  # The stamp records what the binary was built from, so a changed pin or flag rebuilds it.
  local recipe="$pkg $(sha256sum "$here/$dir/go.mod" | cut -c1-16) -s -w $extra"
  [[ -n "$tags$cgo" && "$tags$cgo" != "0" ]] && recipe+=" tags=$tags cgo=$cgo"
  if [[ -x "$bin/$out" && "$(cat "$bin/.$out.stamp" 2>/dev/null)" == "$recipe" ]]; then
    echo "k8s-bin: $out already built ($bin/$out)" >&2
    return
  fi
  echo "k8s-bin: building $out from $pkg ..." >&2
  local start=$SECONDS
  # Fetch the package's modules first, retried: a dropped download then costs seconds, not
  # a failed build; a compile error is not retried.
  (cd "$here/$dir" && "$here/../retry.sh" 3 go list -deps -tags "$tags" "$pkg" >/dev/null)
  (cd "$here/$dir" && CGO_ENABLED="$cgo" nice -n 10 go build -trimpath -tags "$tags" \
    -ldflags "-s -w $extra" -o "$bin/$out.tmp" "$pkg")
  mv "$bin/$out.tmp" "$bin/$out"
  echo "$recipe" >"$bin/.$out.stamp"
  echo "k8s-bin: built $out in $((SECONDS - start))s" >&2
}

if [[ "$what" == control-plane ]]; then
  build kubernetes k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver "$k8s_ldflags"
  build kubernetes k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager "$k8s_ldflags"
  build kubernetes k8s.io/kubernetes/cmd/kube-scheduler kube-scheduler "$k8s_ldflags"
  build kubernetes k8s.io/kubernetes/cmd/kubectl kubectl "$k8s_ldflags"
  build etcd go.etcd.io/etcd/server/v3 etcd "$etcd_ldflags"
  build helm helm.sh/helm/v3/cmd/helm helm "$helm_ldflags"
elif [[ "$what" == node ]]; then
  build kubelet k8s.io/kubernetes/cmd/kubelet kubelet "$k8s_ldflags"
  # The graph drivers that need cgo or kernel headers are left out, as a static build must.
  ctrd_tags="no_btrfs no_devmapper no_zfs"
  ctrd_ldflags="-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
  build containerd github.com/containerd/containerd/v2/cmd/containerd containerd "$ctrd_ldflags" "$ctrd_tags"
  build containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    containerd-shim-runc-v2 "$ctrd_ldflags" "$ctrd_tags"
  build containerd github.com/containerd/containerd/v2/cmd/ctr ctr "$ctrd_ldflags" "$ctrd_tags"
  # runc needs cgo for libseccomp (Debian's libseccomp-dev, hack/prereqs.sh); Debian's own
  # runc 1.1.5 cannot start a sandbox here (README.md).
  build runc github.com/opencontainers/runc runc "-X main.version=${RUNC_VERSION#v}" seccomp 1
  build pause modelpilot.dev/hack/k8s/pause pause
elif [[ "$what" == registry ]]; then
  # The OCI registry beside the local cluster (hack/localcluster/registry.py): what a
  # release is pushed to and a node pulls from.
  build registry github.com/distribution/distribution/v3/cmd/registry registry \
    "-X github.com/distribution/distribution/v3/version.version=$REGISTRY_VERSION"
else
  echo "usage: $0 [control-plane|node|registry]" >&2
  exit 2
fi
echo "$bin"
