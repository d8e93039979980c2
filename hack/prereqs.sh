#!/usr/bin/env bash
# Installs the few system tools the local cluster needs when a machine lacks them.
# Debian/Ubuntu only; a no-op when everything is present (the usual case).
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v openssl >/dev/null || need+=(openssl)
command -v unshare >/dev/null || need+=(util-linux)
command -v nsenter >/dev/null || need+=(util-linux)
command -v go >/dev/null || need+=(golang-go)
command -v python3 >/dev/null || need+=(python3 python3-venv)
# The images (hack/images) and the real node (hack/localcluster/realnode.py): buildah builds
# without a daemon, mmdebstrap makes the base, runc links libseccomp, CNI plugins wire pods.
command -v buildah >/dev/null || need+=(buildah)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
[[ -f /usr/include/seccomp.h ]] || need+=(libseccomp-dev)
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
# The dashboard's browser test (tests/e2e/test_dashboard_browser.py): Debian's Chromium and
# the chromedriver of the same version (Selenium drives it; no browser download works here).
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
if ((${#need[@]})); then
  echo "prereqs: installing ${need[*]}" >&2
  retry="$(dirname "$0")/retry.sh"
  "$retry" 3 apt-get -o Acquire::Retries=5 update -qq
  DEBIAN_FRONTEND=noninteractive "$retry" 3 apt-get -o Acquire::Retries=5 install -y -qq \
    "${need[@]}" >/dev/null
fi
