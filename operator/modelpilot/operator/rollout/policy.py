"""Platform policy: the values a model owner writes that make the operator act elsewhere.

A ModelDeployment names images the cluster will run, claims the operator mounts into
pods (the model store, a dataset claim), a Prometheus it queries, a dataset the trainer
fetches, and the PriorityClass and ServiceAccount its pods run with (a priority can preempt
other tenants' pods; a ServiceAccount can carry a cloud identity). Each is checked here
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
from modelpilot.api.reasons import ConditionReason
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.operator.settings import DEFAULT_DATASET_SCHEMES, Settings


@dataclass(frozen=True)
class Refusal:
    """A value the policy refuses; plan() makes it a Problem (Stalled=True)."""

    reason: ConditionReason
    message: str


# The setting behind each check: the environment variable and the chart value that sets it.
IMAGES = "MODELPILOT_IMAGE_ALLOWLIST (Helm value policy.imageAllowlist)"
STORE_CLAIMS = "MODELPILOT_STORE_CLAIM_ALLOWLIST (Helm value policy.storeClaimAllowlist)"
PROMETHEUS = "MODELPILOT_PROMETHEUS_ALLOWLIST (Helm value policy.prometheusAllowlist)"
DATASET_SCHEMES = "MODELPILOT_DATASET_SCHEMES (Helm value policy.datasetSchemes)"
DATASET_CLAIMS = "MODELPILOT_DATASET_CLAIM_ALLOWLIST (Helm value policy.datasetClaimAllowlist)"
PRIORITY_CLASSES = "MODELPILOT_PRIORITY_CLASS_ALLOWLIST (Helm value policy.priorityClassAllowlist)"
SERVICE_ACCOUNTS = (
    "MODELPILOT_SERVICE_ACCOUNT_ALLOWLIST (Helm value policy.serviceAccountAllowlist)"
)
WEBHOOKS = "MODELPILOT_WEBHOOK_ALLOWLIST (Helm value policy.webhookAllowlist)"

# A refusal that may clear without a spec change (a claim is created or labelled later):
# plan() looks again soon instead of waiting for the next resync. A model store named as the
# dataset claim (DatasetNotAllowed) is not: only the spec can clear it.
TRANSIENT = frozenset(
    {
        ConditionReason.MODEL_STORE_NOT_ALLOWED,
        ConditionReason.MODEL_STORE_NOT_FOUND,
        ConditionReason.DATASET_CLAIM_NOT_FOUND,
        ConditionReason.DATASET_CLAIM_NOT_ALLOWED,
    }
)


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
    # Claims usable as spec.training.dataset.pvc without the dataset label (fnmatch).
    dataset_claims: tuple[str, ...] = ()
    store_mount_path: str = "/models"
    # fnmatch patterns a .pod.priorityClassName / .pod.serviceAccountName may match.
    priority_classes: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    # fnmatch patterns a rollout webhook's or a notification's URL must match; empty: none.
    webhooks: tuple[str, ...] = ()


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
        dataset_claims=settings.dataset_claim_allowlist,
        store_mount_path=settings.store_mount_path,
        priority_classes=settings.priority_class_allowlist
        or _defaults_name(settings, "priority_class_name"),
        service_accounts=settings.service_account_allowlist
        or _defaults_name(settings, "service_account_name"),
        webhooks=settings.webhook_allowlist,
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
    dataset_claim_labels: Mapping[str, str] | None = None,
) -> Refusal | None:
    """Why the platform's policy refuses this spec, or None when every value is allowed.

    `claim` is the store claim the spec resolves to; `claim_labels` its labels as read this
    tick, None when the claim does not exist (or was not read because it needs no label).
    `dataset_claim_labels` likewise for spec.training.dataset.pvc's claim.
    """
    for field_path, image in (
        ("spec.training.image", spec.training.image),
        ("spec.serving.image", spec.serving.image),
    ):
        if image is not None and not any(fnmatch.fnmatchcase(image, p) for p in policy.images):
            return Refusal(
                ConditionReason.IMAGE_NOT_ALLOWED,
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
                ConditionReason.PROMETHEUS_NOT_ALLOWED,
                "spec.rollout.analysis.metricsSource.prometheus.address "
                f"{_cut(address)!r} is not allowed (allowed: "
                f"{_listed(policy.prometheus_addresses)}); omit metricsSource to scrape the "
                f"pods, or ask the platform team to add it to {PROMETHEUS}",
            )
    dataset_claim = spec.training.dataset.pvc
    if dataset_claim is not None:
        problem = dataset_claim_refusal(
            policy,
            claim=dataset_claim.claim_name,
            labels=dataset_claim_labels,
            store_claim=claim,
        )
        if problem is not None:
            return problem
    uri = spec.training.dataset.uri
    if uri is not None:
        why = dataset_refusal(uri, policy)
        if why is not None:
            return Refusal(
                ConditionReason.DATASET_NOT_ALLOWED,
                f"spec.training.dataset.uri {_cut(uri)!r} {why}",
            )
    pretrained = spec.training.pretrained
    if pretrained is not None and not pretrained.is_s3:
        # s3:// is the store's own bucket (the spec requires modelStore.s3 with it); a local
        # path is mounted into the trainer, so it must lie inside the store claim.
        why = local_path_refusal(pretrained.uri, policy, what="the model")
        if why is not None:
            return Refusal(
                ConditionReason.PRETRAINED_NOT_ALLOWED,
                f"spec.training.pretrained.uri {_cut(pretrained.uri)!r} {why}",
            )
    return webhook_refusal(spec, policy)


def webhook_refusal(spec: ModelDeploymentSpec, policy: Policy) -> Refusal | None:
    """The first rollout webhook or notification URL the allowlist does not allow, or None.

    The operator calls these URLs from inside the cluster: without the allowlist a
    ModelDeployment could make it reach any address its network can (a metadata service,
    another tenant's Service), so an empty allowlist refuses every URL.
    """
    urls = [(f"spec.rollout.webhooks[{i}].url", w.url) for i, w in enumerate(spec.rollout.webhooks)]
    urls += [(f"spec.notifications[{i}].url", n.url) for i, n in enumerate(spec.notifications)]
    for field_path, url in urls:
        if not url_allowed(url, policy.webhooks):
            return Refusal(
                ConditionReason.WEBHOOK_NOT_ALLOWED,
                f"{field_path} {_cut(url)!r} is not allowed by the platform's webhook policy "
                f"(allowed: {_listed(policy.webhooks)}); remove it or ask the platform team "
                f"to add a pattern to {WEBHOOKS}",
            )
    return None


def url_allowed(url: str, patterns: tuple[str, ...]) -> bool:
    """`url` matches one of the allowlist's fnmatch patterns (case-sensitive, whole URL).

    A URL with credentials, a fragment or whitespace is never allowed, whatever the
    patterns say (the CRD's pattern refuses them too).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        return False
    authority = rest.split("/", 1)[0]
    if "@" in authority or "#" in url or any(c.isspace() for c in url):
        return False
    return any(fnmatch.fnmatchcase(url, p) for p in patterns)


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
                ConditionReason.PRIORITY_CLASS_NOT_ALLOWED,
                PRIORITY_CLASSES,
            ),
            (
                "serviceAccountName",
                pod.service_account_name,
                policy.service_accounts,
                ConditionReason.SERVICE_ACCOUNT_NOT_ALLOWED,
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
            ConditionReason.MODEL_STORE_NOT_FOUND,
            f"spec.modelStore.pvc.claimName {claim!r}: no such PersistentVolumeClaim in this "
            f"namespace; create it with the label {label}",
        )
    if claim_labels.get(names.LABEL_MODEL_STORE) != "true":
        return Refusal(
            ConditionReason.MODEL_STORE_NOT_ALLOWED,
            f"spec.modelStore.pvc.claimName {claim!r} is not labelled as a model store; "
            f"label it {label} (kubectl label pvc {claim} {label}) or ask the platform team "
            f"to add it to {STORE_CLAIMS}",
        )
    return None


def dataset_claim_needs_label(policy: Policy, claim: str) -> bool:
    """Whether a dataset claim is allowed only by its label (so the tick must read it)."""
    return not any(fnmatch.fnmatchcase(claim, p) for p in policy.dataset_claims)


def dataset_claim_refusal(
    policy: Policy,
    *,
    claim: str,
    labels: Mapping[str, str] | None,
    store_claim: str | None,
) -> Refusal | None:
    """Why spec.training.dataset.pvc's claim is refused, or None.

    A model store is never a dataset claim, whatever the allowlist says: whoever may write
    the data could then write bundles (the one the spec uses, the operator's default, an
    allowlisted store, or any claim labelled as a store). Otherwise the claim must match
    the dataset claim allowlist or carry the dataset label; `labels` is None when the claim
    does not exist (or was not read because the allowlist admits it).
    """
    field = f"spec.training.dataset.pvc.claimName {claim!r}"
    is_store = (
        claim in (store_claim, policy.default_store_claim)
        or any(fnmatch.fnmatchcase(claim, p) for p in policy.store_claims)
        or (labels is not None and labels.get(names.LABEL_MODEL_STORE) == "true")
    )
    if is_store:
        return Refusal(
            ConditionReason.DATASET_NOT_ALLOWED,
            f"{field} is a model store; a dataset needs a claim of its own (whoever writes "
            "the data must not be able to write models): copy the data to a claim labelled "
            f"{names.LABEL_DATASET}=true",
        )
    if not dataset_claim_needs_label(policy, claim):
        return None
    label = f"{names.LABEL_DATASET}=true"
    if labels is None:
        return Refusal(
            ConditionReason.DATASET_CLAIM_NOT_FOUND,
            f"{field}: no such PersistentVolumeClaim in this namespace; create it with the "
            f"label {label}",
        )
    if labels.get(names.LABEL_DATASET) != "true":
        return Refusal(
            ConditionReason.DATASET_CLAIM_NOT_ALLOWED,
            f"{field} is not labelled as a dataset; label it {label} (kubectl label pvc "
            f"{claim} {label}) or ask the platform team to add it to {DATASET_CLAIMS}",
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
