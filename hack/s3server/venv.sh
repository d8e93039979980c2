#!/usr/bin/env bash
# Prints the python of a virtualenv holding moto, the S3-compatible server the e2e tests start
# (requirements.txt beside this file), created on first use (hack/sidevenv.sh).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$here/../sidevenv.sh" "$here/requirements.txt" s3server
