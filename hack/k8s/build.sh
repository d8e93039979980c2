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
# Several clones (CI, worktrees, a demo) may share one cache: one builder at a time, so no two
# of them write the same binary's .tmp, and a waiter then finds the stamps and builds nothing.
exec 9>"$bin/.build.lock"
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

build() {  # build MODULE_DIR PACKAGE OUTPUT_NAME [EXTRA_LDFLAGS]
  local dir="$1" pkg="$2" out="$3" extra="${4:-}"
  # The stamp records what the binary was built from, so a changed pin or flag rebuilds it.
  local recipe="$pkg $(sha256sum "$here/$dir/go.mod" | cut -c1-16) -s -w $extra"
  if [[ -x "$bin/$out" && "$(cat "$bin/.$out.stamp" 2>/dev/null)" == "$recipe" ]]; then
    echo "k8s-bin: $out already built ($bin/$out)" >&2
    return
  fi
  echo "k8s-bin: building $out from $pkg ..." >&2
  local start=$SECONDS
  (cd "$here/$dir" && go build -trimpath -ldflags "-s -w $extra" -o "$bin/$out.tmp" "$pkg")
  mv "$bin/$out.tmp" "$bin/$out"
  echo "$recipe" >"$bin/.$out.stamp"
  echo "k8s-bin: built $out in $((SECONDS - start))s" >&2
}

build kubernetes k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver "$k8s_ldflags"
build kubernetes k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager "$k8s_ldflags"
build kubernetes k8s.io/kubernetes/cmd/kube-scheduler kube-scheduler "$k8s_ldflags"
build kubernetes k8s.io/kubernetes/cmd/kubectl kubectl "$k8s_ldflags"
build etcd go.etcd.io/etcd/server/v3 etcd "$etcd_ldflags"
build helm helm.sh/helm/v3/cmd/helm helm "$helm_ldflags"
echo "$bin"
