#!/usr/bin/env bash
# Prints the python of a virtualenv holding the ecosystem's inference clients (kserve,
# tritonclient: requirements.txt beside this file), created on first use (hack/sidevenv.sh).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$here/../sidevenv.sh" "$here/requirements.txt" oracles
