#!/usr/bin/env bash
# Prints the python of a virtualenv holding moto, the S3-compatible server the e2e tests start
# (requirements.txt beside this file), creating it on first use. It lives outside the clone,
# keyed by the requirements' digest, so a pin change makes a new one; pip's wheel cache makes
# a re-creation quick. Progress goes to stderr, only the path to stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
reqs="$here/requirements.txt"
key="$(sha256sum "$reqs" | cut -c1-12)"
venv="${MODELPILOT_CACHE:-$HOME/.cache/modelpilot}/s3server/venv-$key"
if [ ! -f "$venv/.installed" ]; then
    echo "creating $venv (moto, the S3 test server)" >&2
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
