#!/usr/bin/env bash
# Builds the three images (operator, serving, trainer) from their Dockerfiles with buildah, as
# root and without a daemon or a registry, on a base built here from Debian packages with
# mmdebstrap (nothing can be pulled). Each image is also written to
# $MODELPILOT_CACHE/images/NAME.tar (docker-archive, tag docker.io/modelpilot/NAME:dev) for
# `ctr images import`. A build whose inputs hash to the recorded key is skipped.
#
# Usage: hack/images/build.sh [--no-smoke | --keys]    (see hack/images/README.md)
# --keys prints each image's build key and builds nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${MODELPILOT_CACHE:-$HOME/.cache/modelpilot}/images"
smoke=1
[[ "${1:-}" == "--no-smoke" ]] && smoke=0

# ---- what each image's key is made of: the build context, the base, its Dockerfile ----
base_packages="python3,python3-venv,python-is-python3,ca-certificates,tzdata"
base_recipe="bookworm minbase $base_packages v1"
base_key="$(echo "$base_recipe" | sha256sum | cut -c1-16)"
context_hash() {  # the files the .dockerignore allow-list sends, by content
  local paths=()
  for p in pyproject.toml README.md LICENSE api operator serving trainer; do
    [[ -e "$repo/$p" ]] && paths+=("$p")
  done
  (cd "$repo" && find "${paths[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.py[cod]' \
      ! -path '*.egg-info*' | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -c1-16
}
image_key() {  # by content only: a clone elsewhere (every fresh CI checkout) reuses the images
  printf '%s %s %s' "$ctx" "$base_key" "$(sha256sum <"$repo/$1/Dockerfile")" \
    | sha256sum | cut -c1-16
}
ctx="$(context_hash)"
if [[ "${1:-}" == "--keys" ]]; then
  for name in operator serving trainer; do echo "$name $(image_key "$name")"; done
  exit 0
fi

mkdir -p "$cache"
# One builder at a time per cache: clones sharing it never write the same archive twice.
exec 8>"$cache/.build.lock"
flock 8

log() { echo "images: $*" >&2; }
# buildah keeps its own store (/var/lib/containers/storage, overlay); chroot isolation runs
# each RUN without an OCI runtime (Debian's runc 1.1.5 and crun 1.8 both trip here, see
# hack/k8s/README.md), and the host network reaches PyPI the way a user's build does.
bah=(buildah --storage-driver "${BUILDAH_STORAGE_DRIVER:-overlay}")

# ---- the base: Debian bookworm's python3.11, the Python that python:3.11-slim also is ----
# Its key is the recipe itself; Debian point releases do not rebuild it (delete the stamp to).
base_tag="localhost/modelpilot/base:$base_key"
if [[ "$(cat "$cache/.base.stamp" 2>/dev/null)" == "$base_key" ]] \
  && "${bah[@]}" inspect --type image "$base_tag" >/dev/null 2>&1; then
  log "base $base_tag up to date"
else
  log "building base $base_tag with mmdebstrap ($base_packages) ..."
  start=$SECONDS
  rootfs="$cache/base-$base_key.tar"
  # Docs, man pages and locales dropped as the slim images do; apt lists removed after.
  SOURCE_DATE_EPOCH=0 mmdebstrap --quiet --mode=root --variant=minbase \
    --include="$base_packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$rootfs.part.tar"  # mmdebstrap picks the output format from the suffix
  mv "$rootfs.part.tar" "$rootfs"
  ctr="$("${bah[@]}" from scratch)"
  "${bah[@]}" add "$ctr" "$rootfs" / >/dev/null
  "${bah[@]}" config --env LANG=C.UTF-8 --env PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd '["python3"]' --label org.opencontainers.image.title=modelpilot-base "$ctr"
  "${bah[@]}" commit --quiet --rm "$ctr" "$base_tag" >/dev/null
  rm -f "$rootfs"
  rm -f "$cache/base.tar"
  echo "$base_key" >"$cache/.base.stamp"
  log "built base in $((SECONDS - start))s"
fi

# The base goes to the node too: the e2e tests' plain pods name `python:3.11-slim`, which
# the real node answers with this image (hack/localcluster/realnode.py).
if [[ ! -f "$cache/base.tar" ]]; then
  "${bah[@]}" tag "$base_tag" docker.io/modelpilot/base:dev
  "${bah[@]}" push --quiet docker.io/modelpilot/base:dev \
    "docker-archive:$cache/base.tar.tmp:docker.io/modelpilot/base:dev" >/dev/null
  mv "$cache/base.tar.tmp" "$cache/base.tar"
fi

# ---- the three images, keyed on their Dockerfile, the build context and the base ----
# The build may need the host's CA bundle and pip settings (a TLS-inspecting proxy to PyPI):
# mounted for RUN only, never copied into a layer.
mounts=()
[[ -f /etc/ssl/certs/ca-certificates.crt ]] \
  && mounts+=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
[[ -f /etc/pip.conf ]] && mounts+=(-v /etc/pip.conf:/etc/pip.conf:ro)

for name in operator serving trainer; do
  key="$(image_key "$name")"
  tag="docker.io/modelpilot/$name:dev"
  archive="$cache/$name.tar"
  if [[ -f "$archive" && "$(cat "$cache/.$name.stamp" 2>/dev/null)" == "$key" ]] \
    && "${bah[@]}" inspect --type image "$tag" >/dev/null 2>&1; then
    log "$name up to date ($key)"
  else
    log "building $name ($key) ..."
    start=$SECONDS
    # --layers off: a one-shot build; the key above is the cache.
    # Retried whole: the one failure seen in CI was a wheel download cut off mid-file.
    "$repo/hack/retry.sh" 3 "${bah[@]}" build --quiet --isolation chroot --network host "${mounts[@]}" \
      --build-arg "BASE_IMAGE=$base_tag" -f "$repo/$name/Dockerfile" -t "$tag" \
      --label "dev.modelpilot.build-key=$key" "$repo" >/dev/null
    rm -f "$archive"
    "${bah[@]}" push --quiet "$tag" "docker-archive:$archive.tmp:$tag" >/dev/null
    mv "$archive.tmp" "$archive"
    echo "$key" >"$cache/.$name.stamp"
    log "built $name in $((SECONDS - start))s"
  fi
done
# The pod sandbox image: the static pause binary that `hack/k8s/build.sh node` built.
pause_bin="${MODELPILOT_CACHE:-$HOME/.cache/modelpilot}/k8s/$(. "$repo/hack/k8s/versions.env" && echo "$K8S_VERSION")/bin/pause"
if [[ -x "$pause_bin" ]]; then
  key="$(sha256sum "$pause_bin" | cut -c1-16)"
  if [[ -f "$cache/pause.tar" && "$(cat "$cache/.pause.stamp" 2>/dev/null)" == "$key" ]]; then
    log "pause up to date ($key)"
  else
    ctr="$("${bah[@]}" from scratch)"
    "${bah[@]}" copy --chmod 0755 "$ctr" "$pause_bin" /pause >/dev/null
    "${bah[@]}" config --entrypoint '["/pause"]' --user 65535:65535 "$ctr"
    "${bah[@]}" commit --quiet --rm "$ctr" docker.io/modelpilot/pause:dev >/dev/null
    rm -f "$cache/pause.tar"
    "${bah[@]}" push --quiet docker.io/modelpilot/pause:dev \
      "docker-archive:$cache/pause.tar.tmp:docker.io/modelpilot/pause:dev" >/dev/null
    mv "$cache/pause.tar.tmp" "$cache/pause.tar"
    echo "$key" >"$cache/.pause.stamp"
    log "built pause ($key)"
  fi
fi
"${bah[@]}" rmi --prune >/dev/null 2>&1 || true

for name in operator serving trainer; do
  # The uncompressed layers, which is what a node unpacks.
  size="$(stat -c %s "$cache/$name.tar")"
  printf 'images: modelpilot/%s:dev  %s MiB  (%s)\n' "$name" "$((size / 1048576))" "$cache/$name.tar" >&2
done

if ((smoke)); then
  "$here/smoke.sh"
fi
