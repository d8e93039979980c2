"""`modelpilot fetch-bundle`: a serving pod's init step with spec.modelStore.s3.

It downloads the revision's bundle from S3 into the pod's emptyDir, at the path the server
then reads it from (read-only), and verifies model.joblib against the digest the operator
recorded — without unpickling anything — so a tampered or swapped object fails here, with a
message in the pod's status, and the server never starts on it. The server verifies the
same bytes again when it loads them (modelpilot.api.bundle.load_bundle): this step is an
early, readable refusal, not the trust anchor.

Why a step of its own: only it mounts the credentials Secret's keys. The server, which
unpickles the model, never sees them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelpilot.api import s3
from modelpilot.api.bundle import MODEL_FILE, BundleError, verify_bundle
from modelpilot.api.names import ENV_TERMINATION_LOG


def fetch(
    *,
    model_dir: Path,
    key_prefix: str,
    expected_sha256: str,
    env: Mapping[str, str],
    client: Any = None,
) -> str:
    """Download and verify; returns a one-line report. Raises s3.ObjectStoreError or
    BundleError (a mismatching model file is removed first). `client`: the S3 client, made
    from `env` when None."""
    found = s3.store_from_env(env)
    if found is None:
        raise s3.ObjectStoreError(f"{s3.ENV_S3_BUCKET} is not set: no S3 model store")
    location, endpoint = found
    client = s3.client(endpoint) if client is None else client
    s3.download_bundle(client, bucket=location.bucket, key_prefix=key_prefix, dest=model_dir)
    try:
        metadata = verify_bundle(model_dir, expected_sha256, allow_version_skew=True)
    except BundleError:
        (model_dir / MODEL_FILE).unlink(missing_ok=True)
        raise
    return (
        f"fetch-bundle: s3://{location.bucket}/{key_prefix} -> {model_dir}: "
        f"{metadata.namespace}/{metadata.name} {metadata.revision}, sha256 "
        f"{metadata.model_sha256} verified"
    )


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(
        prog="modelpilot fetch-bundle",
        description="Download a bundle from the S3 model store and verify its digest.",
    )
    parser.add_argument("--model-dir", required=True, help="where the server reads it")
    parser.add_argument("--key-prefix", required=True, help="the bundle's key prefix, .../vN/")
    parser.add_argument("--expected-sha256", required=True, help="the digest the operator trusts")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        print(
            fetch(
                model_dir=Path(args.model_dir),
                key_prefix=args.key_prefix,
                expected_sha256=args.expected_sha256,
                env=env,
            ),
            flush=True,
        )
        return 0
    except (s3.ObjectStoreError, BundleError, OSError) as exc:
        message = f"fetch-bundle: {exc}"
    print(message, file=sys.stderr, flush=True)
    log = env.get(ENV_TERMINATION_LOG)
    if log:
        with contextlib.suppress(OSError):
            Path(log).write_text(message)
    return 1
