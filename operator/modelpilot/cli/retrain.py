"""`modelpilot retrain NAME`: ask for a new revision with the same spec (the data read again).

It bumps the retrain annotation; the operator starts revision N+1 when the value is new. The
seed is spec.training.randomState, the same for every revision, so a retrain on unchanged data
trains the same model; change randomState (a new spec, a new revision) for a different one.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime

from modelpilot.api import names
from modelpilot.cli.kube import add_target_arguments, annotate


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="modelpilot retrain", description=__doc__.splitlines()[0])
    add_target_arguments(parser)
    args = parser.parse_args(list(argv))
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    code = annotate(args, {names.ANNOTATION_RETRAIN: stamp})
    if code == 0:
        print(f"modeldeployment/{args.name}: retrain requested at {stamp}")
    return code
