#!/usr/bin/env bash
# Builds Prometheus and promtool from the Go module proxy (the version pinned in go.mod beside
# this file) into the same cache as the Kubernetes binaries, skipping what is already built.
# Prints the bin directory last. Apart from hack/k8s/build.sh so each can change alone.
#
# remove_all_sd leaves out the cloud service discoveries (AWS, Azure, GCE, ...): the tests
# scrape static and file_sd targets, and the build is a fraction of the size and time.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MODELPILOT_CACHE:-$HOME/.cache/modelpilot}"
bin="$cache/prometheus/bin"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
exec 9>"$bin/.build.lock"
flock 9

version="$(awk '$1 == "require" && $2 == "github.com/prometheus/prometheus" {print $3}' "$here/go.mod")"
common=github.com/prometheus/common/version
ldflags="-s -w -X $common.Version=$version -X $common.Branch=HEAD -X $common.Revision=$version"
for cmd in promtool prometheus; do
  recipe="$cmd $(sha256sum "$here/go.mod" | cut -c1-16) tags=remove_all_sd"
  if [[ -x "$bin/$cmd" && "$(cat "$bin/.$cmd.stamp" 2>/dev/null)" == "$recipe" ]]; then
    echo "prometheus-bin: $cmd already built ($bin/$cmd)" >&2
    continue
  fi
  echo "prometheus-bin: building $cmd $version ..." >&2
  start=$SECONDS
  (cd "$here" && "$here/../retry.sh" 3 go list -deps -tags remove_all_sd \
    "github.com/prometheus/prometheus/cmd/$cmd" >/dev/null)
  (cd "$here" && nice -n 10 go build -trimpath -tags remove_all_sd -ldflags "$ldflags" \
    -o "$bin/$cmd.tmp" "github.com/prometheus/prometheus/cmd/$cmd")
  mv "$bin/$cmd.tmp" "$bin/$cmd"
  echo "$recipe" >"$bin/.$cmd.stamp"
  echo "prometheus-bin: built $cmd in $((SECONDS - start))s" >&2
done
echo "$bin"
