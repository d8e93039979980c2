"""Every model-store claim the project ships carries the label the operator's policy asks for.

The operator mounts only claims labelled `modelpilot.dev/model-store: "true"` (or allowlisted),
so an example whose claim lacks it stalls with ModelStoreNotAllowed the moment a user applies
it. Examples written beside the policy change once did exactly that.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
LABEL = "modelpilot.dev/model-store"
DATASET = "modelpilot.dev/dataset"  # a dataset claim (spec.training.dataset.pvc), never a store


def _claims() -> list[tuple[str, dict]]:
    found = []
    for root in ("examples", "manifests/samples"):
        for path in sorted((REPO / root).rglob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "PersistentVolumeClaim":
                    found.append((str(path.relative_to(REPO)), doc))
    return found


def test_the_examples_ship_store_claims() -> None:
    assert len(_claims()) >= 6


@pytest.mark.parametrize(("path", "claim"), _claims(), ids=[p for p, _ in _claims()])
def test_every_shipped_store_claim_is_labelled_a_model_store(path: str, claim: dict) -> None:
    labels = claim.get("metadata", {}).get("labels") or {}
    if labels.get(DATASET) == "true":
        assert LABEL not in labels, f"{path}: a dataset claim is never also a model store"
        return
    assert labels.get(LABEL) == "true", f'{path}: claim lacks {LABEL}: "true"'
