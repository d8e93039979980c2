#!/usr/bin/env bash
# Usage: hack/sidevenv.sh REQUIREMENTS NAME
# Prints the python of a virtualenv holding REQUIREMENTS, for tools whose pins clash with the
# project's own (the ecosystem's inference clients, the S3 test server), creating it on first
# use. It lives outside the clone under $MODELPILOT_CACHE/NAME, keyed by the requirements'
# digest, so a pin change makes a new one; pip's wheel cache makes a re-creation quick.
# Progress goes to stderr, only the path to stdout.
set -euo pipefail
reqs="$1"
name="$2"
key="$(sha256sum "$reqs" | cut -c1-12)"
venv="${MODELPILOT_CACHE:-$HOME/.cache/modelpilot}/$name/venv-$key"
if [ ! -f "$venv/.installed" ]; then
    echo "creating $venv ($name: $(grep -v '^#' "$reqs" | tr '\n' ' '))" >&2
    base="${PYTHON:-python3}"
    mkdir -p "$(dirname "$venv")"
    # One creator at a time: concurrent test sessions share the cache.
    exec 9>"$venv.lock"
    flock 9
    if [ ! -f "$venv/.installed" ]; then
        rm -rf "$venv"
        "$base" -m venv "$venv" >&2
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs" >&2
        touch "$venv/.installed"
    fi
fi
echo "$venv/bin/python"
