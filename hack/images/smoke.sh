#!/usr/bin/env bash
# Runs the smoke check (smoke.py) with the runc that `hack/k8s/build.sh node` built, once per
# set of image build keys: a passed check is recorded and not repeated.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MODELPILOT_CACHE:-$HOME/.cache/modelpilot}"
k8s_version="$(. "$here/../k8s/versions.env" && echo "$K8S_VERSION")"
runc="$cache/k8s/$k8s_version/bin/runc"
if [[ ! -x "$runc" ]]; then
  echo "images: smoke check needs $runc: run \`make node-bin\`" >&2
  exit 1
fi
key="$(cat "$cache"/images/.{operator,serving,trainer}.stamp | sha256sum | cut -c1-16)"
if [[ "$(cat "$cache/images/.smoke.stamp" 2>/dev/null)" == "$key" ]]; then
  echo "images: smoke check already passed for these images ($key)" >&2
  exit 0
fi
start=$SECONDS
python3 "$here/smoke.py" "$runc"
echo "$key" >"$cache/images/.smoke.stamp"
echo "images: smoke check passed in $((SECONDS - start))s" >&2
