"""Platform policy: the values a model owner writes that make the operator act elsewhere.

A ModelDeployment names images the cluster will run, a claim the operator mounts into
pods, a Prometheus it queries, a dataset the trainer fetches, and the PriorityClass and
ServiceAccount its pods run with (a priority can preempt other tenants' pods; a
ServiceAccount can carry a cloud identity). Each is checked here
against what the platform team allowed in the operator's settings (environment variables
set from the chart's `policy.*` values), before anything is created for it. A refused value
is a `Refusal`, which plan() turns into a Problem: Stalled=True with a message naming the
setting that would allow it, and nothing that serves changes (plan() starts no revision and
leaves the stable model as it is).

Pure: the claim's labels are read by the reconcile tick (observe) and handed in via World.
docs/security.md lists every setting and its default.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

from modelpilot.api import names
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.operator.settings import DEFAULT_DATASET_SCHEMES, Settings


@dataclass(frozen=True)
class Refusal:
    """A value the policy refuses; plan() makes it a Problem (Stalled=True)."""

    reason: str
    message: str


# The setting behind each check: the environment variable and the chart value that sets it.
IMAGES = "MODELPILOT_IMAGE_ALLOWLIST (Helm value policy.imageAllowlist)"
STORE_CLAIMS = "MODELPILOT_STORE_CLAIM_ALLOWLIST (Helm value policy.storeClaimAllowlist)"
PROMETHEUS = "MODELPILOT_PROMETHEUS_ALLOWLIST (Helm value policy.prometheusAllowlist)"
DATASET_SCHEMES = "MODELPILOT_DATASET_SCHEMES (Helm value policy.datasetSchemes)"
PRIORITY_CLASSES = "MODELPILOT_PRIORITY_CLASS_ALLOWLIST (Helm value policy.priorityClassAllowlist)"
SERVICE_ACCOUNTS = (
    "MODELPILOT_SERVICE_ACCOUNT_ALLOWLIST (Helm value policy.serviceAccountAllowlist)"
)

REASON_IMAGE = "ImageNotAllowed"
REASON_STORE = "ModelStoreNotAllowed"
REASON_STORE_MISSING = "ModelStoreNotFound"
REASON_PROMETHEUS = "PrometheusNotAllowed"
REASON_DATASET = "DatasetNotAllowed"
REASON_PRETRAINED = "PretrainedNotAllowed"
REASON_PRIORITY_CLASS = "PriorityClassNotAllowed"
REASON_SERVICE_ACCOUNT = "ServiceAccountNotAllowed"
# A refusal that may clear without a spec change (the claim is created or labelled later):
# plan() looks again soon instead of waiting for the next resync.
TRANSIENT = frozenset({REASON_STORE, REASON_STORE_MISSING})


@dataclass(frozen=True)
class Policy:
    """What the platform team allows; built from the operator's Settings."""

    # fnmatch patterns a spec.training.image / spec.serving.image must match.
    images: tuple[str, ...] = ()
    # Claims usable without the model-store label (fnmatch patterns).
    store_claims: tuple[str, ...] = ()
    # The operator's own default store claim: the platform configured it, so it is allowed.
    default_store_claim: str | None = None
    # Base URLs (no trailing slash) a Prometheus metrics source may name.
    prometheus_addresses: tuple[str, ...] = ()
    # Schemes a dataset URI may use; a local path must lie inside the model store.
    dataset_schemes: tuple[str, ...] = DEFAULT_DATASET_SCHEMES
    store_mount_path: str = "/models"
    # fnmatch patterns a .pod.priorityClassName / .pod.serviceAccountName may match.
    priority_classes: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()


def _defaults_name(settings: Settings, attribute: str) -> tuple[str, ...]:
    """What the platform's own pod defaults name (always allowed, as its images are)."""
    found = (getattr(p, attribute) for p in (settings.training_pod, settings.serving_pod) if p)
    return tuple(dict.fromkeys(v for v in found if v))


def policy_of(settings: Settings) -> Policy:
    """What plan() checks a spec against, from the operator's settings."""
    return Policy(
        images=settings.image_allowlist or (settings.trainer_image, settings.serving_image),
        store_claims=settings.store_claim_allowlist,
        default_store_claim=settings.default_store_claim,
        prometheus_addresses=settings.prometheus_allowlist,
        dataset_schemes=settings.dataset_schemes,
        store_mount_path=settings.store_mount_path,
        priority_classes=settings.priority_class_allowlist
        or _defaults_name(settings, "priority_class_name"),
        service_accounts=settings.service_account_allowlist
        or _defaults_name(settings, "service_account_name"),
    )


def _listed(items: tuple[str, ...]) -> str:
    return ", ".join(items) if items else "none"


def _cut(value: str, limit: int = 200) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def refusal(
    spec: ModelDeploymentSpec,
    policy: Policy,
    *,
    claim: str | None,
    claim_labels: Mapping[str, str] | None,
) -> Refusal | None:
    """Why the platform's policy refuses this spec, or None when every value is allowed.

    `claim` is the store claim the spec resolves to; `claim_labels` its labels as read this
    tick, None when the claim does not exist (or was not read because it needs no label).
    """
    for field_path, image in (
        ("spec.training.image", spec.training.image),
        ("spec.serving.image", spec.serving.image),
    ):
        if image is not None and not any(fnmatch.fnmatchcase(image, p) for p in policy.images):
            return Refusal(
                REASON_IMAGE,
                f"{field_path} {_cut(image)!r} is not allowed by the platform's image policy "
                f"(allowed: {_listed(policy.images)}); use an allowed image or ask the "
                f"platform team to add a pattern to {IMAGES}",
            )
    problem = store_refusal(policy, claim=claim, claim_labels=claim_labels) or pod_refusal(
        spec, policy
    )
    if problem is not None:
        return problem
    source = spec.rollout.analysis.metrics_source
    if source is not None and source.prometheus is not None:
        address = source.prometheus.address.rstrip("/")
        if address not in policy.prometheus_addresses:
            return Refusal(
                REASON_PROMETHEUS,
                "spec.rollout.analysis.metricsSource.prometheus.address "
                f"{_cut(address)!r} is not allowed (allowed: "
                f"{_listed(policy.prometheus_addresses)}); omit metricsSource to scrape the "
                f"pods, or ask the platform team to add it to {PROMETHEUS}",
            )
    uri = spec.training.dataset.uri
    if uri is not None:
        why = dataset_refusal(uri, policy)
        if why is not None:
            return Refusal(REASON_DATASET, f"spec.training.dataset.uri {_cut(uri)!r} {why}")
    pretrained = spec.training.pretrained
    if pretrained is not None and not pretrained.is_s3:
        # s3:// is the store's own bucket (the spec requires modelStore.s3 with it); a local
        # path is mounted into the trainer, so it must lie inside the store claim.
        why = local_path_refusal(pretrained.uri, policy, what="the model")
        if why is not None:
            return Refusal(
                REASON_PRETRAINED, f"spec.training.pretrained.uri {_cut(pretrained.uri)!r} {why}"
            )
    return None


def pod_refusal(spec: ModelDeploymentSpec, policy: Policy) -> Refusal | None:
    """The first PriorityClass or ServiceAccount a spec's pods name that the policy does not
    allow, or None."""
    for side, pod in (("training", spec.training.pod), ("serving", spec.serving.pod)):
        if pod is None:
            continue
        for field, value, allowed, reason, setting in (
            (
                "priorityClassName",
                pod.priority_class_name,
                policy.priority_classes,
                REASON_PRIORITY_CLASS,
                PRIORITY_CLASSES,
            ),
            (
                "serviceAccountName",
                pod.service_account_name,
                policy.service_accounts,
                REASON_SERVICE_ACCOUNT,
                SERVICE_ACCOUNTS,
            ),
        ):
            if value is not None and not any(fnmatch.fnmatchcase(value, p) for p in allowed):
                return Refusal(
                    reason,
                    f"spec.{side}.pod.{field} {value!r} is not allowed by the platform's "
                    f"policy (allowed: {_listed(allowed)}); remove it or ask the platform "
                    f"team to add it to {setting}",
                )
    return None


def store_needs_label(policy: Policy, claim: str) -> bool:
    """Whether the claim is allowed only by its label (so the tick must read it)."""
    return claim != policy.default_store_claim and not any(
        fnmatch.fnmatchcase(claim, p) for p in policy.store_claims
    )


def store_refusal(
    policy: Policy, *, claim: str | None, claim_labels: Mapping[str, str] | None
) -> Refusal | None:
    if claim is None or not store_needs_label(policy, claim):
        return None
    label = f"{names.LABEL_MODEL_STORE}=true"
    if claim_labels is None:
        return Refusal(
            REASON_STORE_MISSING,
            f"spec.modelStore.pvc.claimName {claim!r}: no such PersistentVolumeClaim in this "
            f"namespace; create it with the label {label}",
        )
    if claim_labels.get(names.LABEL_MODEL_STORE) != "true":
        return Refusal(
            REASON_STORE,
            f"spec.modelStore.pvc.claimName {claim!r} is not labelled as a model store; "
            f"label it {label} (kubectl label pvc {claim} {label}) or ask the platform team "
            f"to add it to {STORE_CLAIMS}",
        )
    return None


def local_path_refusal(uri: str, policy: Policy, *, what: str = "a file") -> str | None:
    """Why a local path (or file:// URI) may not be read by the trainer, or None: it must
    lie strictly inside the model store's mount, without '..'."""
    path = uri.removeprefix("file://")
    if not path.startswith("/"):
        return f"is a relative path; name {what} inside the model store"
    store = policy.store_mount_path.rstrip("/") or "/"
    normal = posixpath.normpath(path)
    inside = normal.startswith(store.rstrip("/") + "/")
    if ".." in path.split("/") or not inside:
        return (
            f"is a local path outside the model store ({store}); only files inside the "
            "store may be read from the trainer's filesystem"
        )
    if posixpath.dirname(normal) == store:
        # The trainer mounts the file's directory read-only, never the whole store.
        return f"lies at the store's root; put {what} in a directory of it ({store}/DIR/...)"
    return None


def dataset_refusal(uri: str, policy: Policy) -> str | None:
    """Why a dataset URI is refused (the rest of a sentence), or None."""
    scheme, sep, rest = uri.partition("://")
    if "::" in uri:
        return "chains fsspec protocols (::), which the operator does not allow"
    if not sep or scheme.lower() == "file":
        path = rest if sep else uri
        if not path.startswith("/"):
            return "is a relative path; name a file inside the model store"
        store = policy.store_mount_path.rstrip("/") or "/"
        normal = posixpath.normpath(path)
        inside = normal == store or normal.startswith(store.rstrip("/") + "/")
        if ".." in path.split("/") or not inside:
            return (
                f"is a local path outside the model store ({store}); only files inside the "
                "store may be read from the trainer's filesystem"
            )
        return None
    if scheme.lower() not in policy.dataset_schemes:
        return (
            f"uses the scheme {_cut(scheme, 40)!r}, which is not allowed (allowed: "
            f"{_listed(policy.dataset_schemes)}); ask the platform team to add it to "
            f"{DATASET_SCHEMES}"
        )
    return None
