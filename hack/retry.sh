#!/usr/bin/env bash
# retry.sh N COMMAND...: run COMMAND up to N times, RETRY_DELAY seconds apart (10 by default),
# until it succeeds; exits with its last status. For steps that download from package
# registries, whose links do drop.
set -uo pipefail
attempts="$1"
shift
for ((i = 1; ; i++)); do
  "$@" && exit 0
  status=$?
  if ((i >= attempts)); then
    echo "retry.sh: '$*' failed $i times (last exit $status)" >&2
    exit "$status"
  fi
  echo "retry.sh: '$*' exited $status; attempt $((i + 1)) of $attempts in ${RETRY_DELAY:-10} s" >&2
  sleep "${RETRY_DELAY:-10}"
done
