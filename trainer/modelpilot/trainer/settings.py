"""What one `modelpilot train` run is asked to do: command-line flags, each with an env fallback.

The operator passes everything through environment variables (names in `modelpilot.api.names`)
and a person at a shell uses flags; a flag wins over its variable. The estimator allowlist is
deliberately *only* an environment variable: the platform team sets it on the trainer, a
ModelDeployment can never widen it.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelpilot.api import names
from modelpilot.trainer.errors import SpecError

DEFAULT_TERMINATION_LOG = "/dev/termination-log"


@dataclass(frozen=True, slots=True)
class Settings:
    output: Path
    spec_path: Path | None  # exactly one of spec_path / spec_json is set
    spec_json: str | None
    stable_dir: Path | None  # both or neither of stable_dir / stable_sha256
    stable_sha256: str | None
    # None: write to /dev/termination-log when it can be written (in a pod), else nowhere.
    termination_log: Path | None
    name: str
    namespace: str
    revision: str
    allowlist: tuple[str, ...]
    # The binding recorded in metadata.json and required of a reused output and of stable;
    # None when run by hand without them (nothing is then checked).
    owner_uid: str | None = None
    spec_hash: str | None = None
    # The prediction logs (STORE/NS/NAME/UID/predictions) read for dataset.include [feedback].
    feedback_dir: Path | None = None


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on its own; raise instead so a summary is still reported."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SpecError(f"command line: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="modelpilot train",
        description="Train a scikit-learn model, evaluate it (and the stable model) on one "
        "holdout, and write the model bundle. Every flag also reads its environment variable.",
    )
    add = p.add_argument
    add("--spec", help=f"YAML/JSON file with training and evaluation [{names.ENV_SPEC}]")
    add("--spec-json", help=f"the same spec inline as JSON [{names.ENV_SPEC_JSON}]")
    add("--output", help=f"the revision's bundle directory, .../vN [{names.ENV_OUTPUT}]")
    add("--stable-dir", help=f"bundle of the serving model [{names.ENV_STABLE_DIR}]")
    add("--stable-sha256", help=f"trusted sha256 of its model.joblib [{names.ENV_STABLE_SHA256}]")
    add(
        "--termination-log",
        help=f"where the JSON summary goes [{names.ENV_TERMINATION_LOG}; default "
        f"{DEFAULT_TERMINATION_LOG} when writable]",
    )
    add("--name", help=f"ModelDeployment name [{names.ENV_MODEL_NAME}; default from --output]")
    add("--namespace", help=f"its namespace [{names.ENV_NAMESPACE}; default from --output]")
    add("--revision", help=f"revision, e.g. v3 [{names.ENV_REVISION}; default from --output]")
    add("--owner-uid", help=f"the ModelDeployment's metadata.uid [{names.ENV_OWNER_UID}]")
    add("--spec-hash", help=f"hash of the spec this revision is cut from [{names.ENV_SPEC_HASH}]")
    add(
        "--feedback-dir",
        help=f"prediction logs for dataset.include [feedback] [{names.ENV_FEEDBACK_DIR}]",
    )
    return p


def parse_settings(argv: Sequence[str], env: Mapping[str, str]) -> Settings:
    args = _parser().parse_args(list(argv))

    def pick(flag: str | None, var: str) -> str | None:
        value = flag if flag is not None else env.get(var)
        return value if value else None

    spec_path = pick(args.spec, names.ENV_SPEC)
    spec_json = pick(args.spec_json, names.ENV_SPEC_JSON)
    if args.spec is not None and args.spec_json is None:
        spec_json = None  # an explicit --spec overrides an inherited MODELPILOT_SPEC_JSON
    elif args.spec_json is not None and args.spec is None:
        spec_path = None
    if (spec_path is None) == (spec_json is None):
        raise SpecError(
            f"give exactly one of --spec FILE ({names.ENV_SPEC}) or --spec-json TEXT "
            f"({names.ENV_SPEC_JSON})"
        )
    output = pick(args.output, names.ENV_OUTPUT)
    if output is None:
        raise SpecError(f"--output DIR ({names.ENV_OUTPUT}) is required")
    stable_dir = pick(args.stable_dir, names.ENV_STABLE_DIR)
    stable_sha256 = pick(args.stable_sha256, names.ENV_STABLE_SHA256)
    if (stable_dir is None) != (stable_sha256 is None):
        raise SpecError(
            "--stable-dir and --stable-sha256 go together: a stable model is only loaded "
            "against the digest the operator trusts"
        )
    termination_log = pick(args.termination_log, names.ENV_TERMINATION_LOG)
    out = Path(output)
    # The output path names the revision (.../vN); name and namespace default to the two
    # parents, as in a store laid out by hand (.../NAMESPACE/NAME/vN). The operator always
    # passes all three (its layout has the owner's uid between NAME and vN).
    revision = pick(args.revision, names.ENV_REVISION) or out.name
    name = pick(args.name, names.ENV_MODEL_NAME) or out.parent.name or "model"
    namespace = pick(args.namespace, names.ENV_NAMESPACE) or out.parent.parent.name or "default"
    raw_allowlist = env.get(names.ENV_ESTIMATOR_ALLOWLIST, "")
    allowlist = tuple(p.strip() for p in raw_allowlist.split(",") if p.strip())
    return Settings(
        output=out,
        spec_path=None if spec_path is None else Path(spec_path),
        spec_json=spec_json,
        stable_dir=None if stable_dir is None else Path(stable_dir),
        stable_sha256=stable_sha256,
        termination_log=None if termination_log is None else Path(termination_log),
        name=name,
        namespace=namespace,
        revision=revision,
        allowlist=allowlist or names.DEFAULT_ESTIMATOR_ALLOWLIST,
        owner_uid=pick(args.owner_uid, names.ENV_OWNER_UID),
        spec_hash=pick(args.spec_hash, names.ENV_SPEC_HASH),
        feedback_dir=_path(pick(args.feedback_dir, names.ENV_FEEDBACK_DIR)),
    )


def _path(value: str | None) -> Path | None:
    return None if value is None else Path(value)


def report_target(argv: Sequence[str], env: Mapping[str, str]) -> tuple[str, Path | None]:
    """(revision, termination log) from a command line that failed to parse, best effort.

    A bad command line must still leave a summary for the operator to show.
    """
    lenient = argparse.ArgumentParser(add_help=False)
    for flag in ("--termination-log", "--revision", "--output"):
        lenient.add_argument(flag)
    try:
        known, _ = lenient.parse_known_args(list(argv))
    except SystemExit:  # e.g. a flag given without its value
        known = argparse.Namespace(termination_log=None, revision=None, output=None)
    log = known.termination_log or env.get(names.ENV_TERMINATION_LOG)
    output = known.output or env.get(names.ENV_OUTPUT)
    revision = (
        known.revision or env.get(names.ENV_REVISION) or (Path(output).name if output else "")
    )
    return revision, Path(log) if log else None
