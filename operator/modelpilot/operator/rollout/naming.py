"""Names of the objects a ModelDeployment owns: deterministic, so a restart finds them."""

from __future__ import annotations

from modelpilot.api import names


def job_name(model: str, revision: str) -> str:
    return f"{model}-train-{revision}"


def deployment_name(model: str, revision: str) -> str:
    return f"{model}-{revision}"


def stable_service_name(model: str) -> str:
    """Selects the stable pods (and, with the replicas router, the canary's too)."""
    return model


def revision_service_name(model: str, revision: str) -> str:
    """Selects one revision's pods: what a mesh router weights."""
    return f"{model}-{revision}"


def serving_selector(model: str, revision: str | None = None) -> dict[str, str]:
    selector = {names.LABEL_MODEL: model, names.LABEL_COMPONENT: "serving"}
    if revision is not None:
        selector[names.LABEL_REVISION] = revision
    return selector
