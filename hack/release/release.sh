#!/usr/bin/env bash
# make release VERSION=x.y.z: publish one version of modelpilot to $MODELPILOT_REGISTRY.
#
#   1. version: pyproject.toml and every copy say VERSION (hack/release/version.py); a
#      version that differs is set, and CHANGELOG.md's [Unreleased] cut into [VERSION] -
#      both are then changes to commit, and the release refuses to go on until they are
#      (the images' revision label must name a commit that holds them);
#   2. the three images from `make images`, relabelled with the OCI annotations (version,
#      revision, source, created = the commit's time, so two releases of one commit give
#      the same digests) and pushed as REGISTRY/modelpilot/NAME:VERSION;
#   3. the chart, its values pinned to those digests, `helm push`ed to oci://REGISTRY/charts;
#   4. dist/VERSION/: manifests/ pinned the same way, the wheel and sdist, NOTES.md from
#      CHANGELOG.md, digests.txt, and sbom/NAME.cdx.json, each image's CycloneDX SBOM read
#      from its installed Python and Debian packages (hack/release/sbom.py).
# The default registry is the local cluster's (hack/localcluster/registry.py), started here
# when it is not running.
#
# release.sh --test VERSION publishes VERSION from this commit whatever version the tree
# says, and from a work tree with uncommitted changes (the revision label then ends in
# -dirty): what tests/e2e/test_release_install.py releases twice, as V1 and a later V2.
# The chart says VERSION; the Python code inside the images still says the tree's version,
# so no wheel or sdist is written, and the notes are [Unreleased]'s when VERSION has none.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
test_release=0
if [[ "${1:-}" == "--test" ]]; then
  test_release=1
  shift
fi
version="${1:?usage: release.sh [--test] VERSION}"
py="${PYTHON:-$repo/.venv/bin/python}"
cache="${MODELPILOT_CACHE:-$HOME/.cache/modelpilot}"
bin="$cache/k8s/$(. hack/k8s/versions.env && echo "$K8S_VERSION")/bin"
index="${MODELPILOT_CLUSTER_INDEX:-0}"
source_url="https://github.com/modelpilot/modelpilot"
log() { echo "release: $*" >&2; }
start=$SECONDS

# ---- 1. the version
tree_version="$(PYTHONPATH=hack "$py" -m release.version)"
revision="$(git rev-parse HEAD)"
notes_of="$version"
if ((test_release)); then
  PYTHONPATH=hack "$py" -m release.version check-semver "$version" || exit 2
  PYTHONPATH=hack "$py" -m release.notes "$version" >/dev/null 2>&1 || notes_of=Unreleased
  [[ -n "$(git status --porcelain --untracked-files=no)" ]] && revision="$revision-dirty"
else
  if [[ "$tree_version" != "$version" ]]; then
    PYTHONPATH=hack "$py" -m release.version "$version" >/dev/null
    PYTHONPATH=hack "$py" -m release.notes --cut "$version" "$(date -u +%F)" "$source_url"
    log "set the version to $version and cut CHANGELOG.md; commit that, then run again"
    exit 1
  fi
  PYTHONPATH=hack "$py" -m release.notes "$version" >/dev/null  # the notes exist
  if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
    log "the work tree has uncommitted changes; a release is built from a commit"
    exit 1
  fi
fi
created="$(git log -1 --format=%cI)"
epoch="$(git log -1 --format=%ct)"

# ---- the registry
registry="${MODELPILOT_REGISTRY:-}"
if [[ -z "$registry" ]]; then
  registry="$(PYTHONPATH=hack MODELPILOT_CACHE="$cache" "$py" -m localcluster.registry up)"
fi
plain_http=()
[[ "$registry" == 127.0.0.1:* || "$registry" == localhost:* ]] && plain_http=(--plain-http)
tls=(--tls-verify=true)
[[ ${#plain_http[@]} -gt 0 ]] && tls=(--tls-verify=false)
log "publishing $version ($revision) to $registry"

out="$repo/dist/$version"
rm -rf "$out"
mkdir -p "$out/chart" "$out/python"

# ---- 2. the images `make images` wrote for this commit (its archives: the :dev tags in
# buildah's store are shared with every other build on the machine)
bah=(buildah --storage-driver "${BUILDAH_STORAGE_DRIVER:-overlay}")
declare -A digest
for name in operator serving trainer; do
  keys="$(hack/images/build.sh --keys)"
  key="$(awk -v n="$name" '$1 == n {print $2}' <<<"$keys")"
  if [[ "$(cat "$cache/images/.$name.stamp" 2>/dev/null)" != "$key" ]]; then
    log "$cache/images/$name.tar is not this commit's build ($key): run make images"
    exit 1
  fi
  ctr="$("${bah[@]}" from --pull-never "docker-archive:$cache/images/$name.tar")"
  "${bah[@]}" config \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$revision" \
    --label "org.opencontainers.image.source=$source_url" \
    --label "org.opencontainers.image.created=$created" "$ctr"
  "${bah[@]}" commit --quiet --rm --timestamp "$epoch" "$ctr" "localhost/modelpilot-release/$name:$version" >/dev/null
  "${bah[@]}" push --quiet "${tls[@]}" --digestfile "$out/$name.digest" \
    "localhost/modelpilot-release/$name:$version" "docker://$registry/modelpilot/$name:$version"
  digest[$name]="$(cat "$out/$name.digest")"
  rm "$out/$name.digest"
  echo "$registry/modelpilot/$name:$version@${digest[$name]}" >>"$out/digests.txt"
  log "pushed $name ${digest[$name]}"
  # The SBOM, from the packages in the very image that was pushed.
  ctr="$("${bah[@]}" from --pull-never "localhost/modelpilot-release/$name:$version")"
  rootfs="$("${bah[@]}" mount "$ctr")"
  mkdir -p "$out/sbom"
  PYTHONPATH=hack "$py" -m release.sbom "$rootfs" "$registry/modelpilot/$name" "$version" \
    "${digest[$name]}" "$created" >"$out/sbom/$name.cdx.json"
  "${bah[@]}" umount "$ctr" >/dev/null
  "${bah[@]}" rm "$ctr" >/dev/null
done

# ---- 3. the chart, 4. manifests/ pinned to those digests
cp -r charts/modelpilot "$out/chart/"
cp -r manifests "$out/manifests"
PYTHONPATH=hack "$py" - "$out" "$registry" "$version" "$tree_version" \
  "${digest[operator]}" "${digest[serving]}" "${digest[trainer]}" <<'PY'
import sys
from pathlib import Path
from release.pin import chart_values, chart_version, manifests
out, registry, version, tree_version, *d = sys.argv[1:]
digests = dict(zip(("operator", "serving", "trainer"), d))
chart = Path(out) / "chart" / "modelpilot"
(chart / "Chart.yaml").write_text(chart_version((chart / "Chart.yaml").read_text(), version=version))
values = chart / "values.yaml"
values.write_text(chart_values(values.read_text(), registry=registry, version=version, digests=digests))
for path in (Path(out) / "manifests").rglob("*.yaml"):
    path.write_text(
        manifests(
            path.read_text(),
            registry=registry,
            version=version,
            digests=digests,
            tree_version=tree_version,
        )
    )
PY
"$bin/helm" package "$out/chart/modelpilot" --destination "$out/chart" >/dev/null
"$bin/helm" push "$out/chart/modelpilot-$version.tgz" "oci://$registry/charts" "${plain_http[@]}" 2>&1 \
  | sed 's/^/release: helm: /' >&2

# ---- 4. Python distributions and notes
# One process per hook: setuptools' build_sdist after build_wheel in the same process
# writes the sdist into bdist_wheel/ instead of the folder it is given.
if ((!test_release)); then
  for hook in build_wheel build_sdist; do
    SOURCE_DATE_EPOCH="$epoch" "$py" -c "import sys; from setuptools import build_meta as b
print(b.$hook(sys.argv[1]))" "$out/python" >/dev/null
  done
  rm -rf build bdist_wheel
fi
PYTHONPATH=hack "$py" -m release.notes "$notes_of" >"$out/NOTES.md"
log "released $version in $((SECONDS - start))s: oci://$registry/charts/modelpilot --version $version; $out"
