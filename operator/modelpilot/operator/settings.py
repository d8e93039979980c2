"""The operator's own configuration, read once from its environment.

The Helm chart and manifests/operator set these on the operator's Deployment:

    MODELPILOT_TRAINER_IMAGE         image of training Jobs (spec.training.image overrides it)
    MODELPILOT_SERVING_IMAGE         image of serving Deployments (spec.serving.image overrides)
    MODELPILOT_IMAGE_PULL_POLICY     IfNotPresent (default), Always, Never
    MODELPILOT_WATCH_NAMESPACES      comma-separated namespaces to watch; empty: all namespaces
    MODELPILOT_ESTIMATOR_ALLOWLIST   comma-separated fnmatch patterns; default sklearn.*
    MODELPILOT_DEFAULT_STORE_PVC     model store PVC when spec.modelStore is omitted; default none
    MODELPILOT_STORE_MOUNT_PATH      where the store is mounted in pods; default /models
    MODELPILOT_POD_UID               uid/gid/fsGroup of training and serving pods; default 65532;
                                     `none` (or empty) sets none, so that the platform (e.g.
                                     OpenShift's restricted SCC) assigns one
                                     [workloads.runAsUser, null for none]
    MODELPILOT_BUNDLES_KEEP_LAST     revisions kept in the store per ModelDeployment besides
                                     those status names (stable, candidate, history); default 5
    MODELPILOT_RESYNC_SECONDS        look at every ModelDeployment at least this often; 300
    MODELPILOT_LIVENESS_ENDPOINT     e.g. http://0.0.0.0:8080/healthz: where /healthz and
                                     /metrics are served; off when empty
    MODELPILOT_LEADER_ELECTION_NAMESPACE  hold the Lease `modelpilot-operator` there and act
                                     only while holding it (standby replicas); off when empty
    MODELPILOT_LEADER_ELECTION_LEASE the Lease's name; default modelpilot-operator
    MODELPILOT_MAX_CONCURRENT_TRAININGS  training Jobs at once, the rest queue fairly across
                                     namespaces; default: the nodes' allocatable CPU cores
    MODELPILOT_POD_NAME              this pod's name (downward API): the Lease holder's identity

Platform policy: what a model owner may make the operator act on (docs/security.md). Each is
a comma-separated list; the chart value that sets it is in brackets.

    MODELPILOT_IMAGE_ALLOWLIST       fnmatch patterns spec.training.image / spec.serving.image
                                     must match [policy.imageAllowlist]; default: only the two
                                     images above
    MODELPILOT_STORE_CLAIM_ALLOWLIST claims usable as spec.modelStore.pvc.claimName without the
                                     label modelpilot.dev/model-store=true
                                     [policy.storeClaimAllowlist]; default none (the label,
                                     or the default store PVC, is needed)
    MODELPILOT_PROMETHEUS_ALLOWLIST  base URLs spec.rollout.analysis.metricsSource.prometheus
                                     .address may name [policy.prometheusAllowlist]; default none
    MODELPILOT_DATASET_SCHEMES       URI schemes spec.training.dataset.uri may use besides a
                                     path inside the model store [policy.datasetSchemes];
                                     default s3 (what the trainer image reads; add gs, az...
                                     only with a trainer image that has their fsspec backend)
    MODELPILOT_DATASET_CLAIM_ALLOWLIST  claims usable as spec.training.dataset.pvc.claimName
                                     without the label modelpilot.dev/dataset=true (fnmatch
                                     patterns) [policy.datasetClaimAllowlist]; default none.
                                     The model-store claim is never a dataset claim.
    MODELPILOT_PRIORITY_CLASS_ALLOWLIST  PriorityClasses spec.training.pod / spec.serving.pod
                                     .priorityClassName may name (fnmatch patterns)
                                     [policy.priorityClassAllowlist]; default: only those the
                                     pod defaults below name
    MODELPILOT_SERVICE_ACCOUNT_ALLOWLIST ServiceAccounts .pod.serviceAccountName may name
                                     (fnmatch patterns) [policy.serviceAccountAllowlist];
                                     default: only those the pod defaults below name
    MODELPILOT_WEBHOOK_ALLOWLIST     fnmatch patterns of the URLs spec.rollout.webhooks and
                                     spec.notifications may name, matched against the whole
                                     URL, e.g. https://hooks.example.com/* or
                                     http://approver.ops.svc:8080/* [policy.webhookAllowlist];
                                     default none (every URL is refused)

Defaults of the pods the operator creates, when the spec says nothing:

    MODELPILOT_TRAINING_RESOURCES    JSON {requests, limits} of the trainer container
                                     [workloads.training.resources]
    MODELPILOT_SERVING_RESOURCES     JSON {requests, limits} of each serving container
                                     [workloads.serving.resources]
    MODELPILOT_TRAINING_POD          JSON placement of training and data-probe pods (the
                                     fields of spec.training.pod: nodeSelector, tolerations,
                                     affinity, ...) [workloads.training.pod]
    MODELPILOT_SERVING_POD           JSON placement of serving pods [workloads.serving.pod]
    MODELPILOT_LOG_FORMAT            text (default) or json, for the operator's own log and
                                     the serving pods it creates from then on [logFormat]
    MODELPILOT_FINISHED_JOBS_KEPT    finished training Jobs kept per ModelDeployment for
                                     `kubectl logs` (older ones are deleted once status has
                                     their outcome) [workloads.training.finishedJobsKept]; 3

The Kubernetes connection is resolved as usual: the in-cluster ServiceAccount when running
in a pod, otherwise KUBECONFIG / ~/.kube/config.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from modelpilot.api import names
from modelpilot.api.pod_spec import PodPlacement
from modelpilot.api.version import image

ENV_TRAINER_IMAGE = "MODELPILOT_TRAINER_IMAGE"
ENV_SERVING_IMAGE = "MODELPILOT_SERVING_IMAGE"
ENV_IMAGE_PULL_POLICY = "MODELPILOT_IMAGE_PULL_POLICY"
ENV_WATCH_NAMESPACES = "MODELPILOT_WATCH_NAMESPACES"
ENV_DEFAULT_STORE_PVC = "MODELPILOT_DEFAULT_STORE_PVC"
ENV_STORE_MOUNT_PATH = "MODELPILOT_STORE_MOUNT_PATH"
ENV_POD_UID = "MODELPILOT_POD_UID"
ENV_RESYNC_SECONDS = "MODELPILOT_RESYNC_SECONDS"
ENV_LIVENESS_ENDPOINT = "MODELPILOT_LIVENESS_ENDPOINT"
ENV_LEADER_ELECTION_NAMESPACE = "MODELPILOT_LEADER_ELECTION_NAMESPACE"
ENV_LEADER_ELECTION_LEASE = "MODELPILOT_LEADER_ELECTION_LEASE"
ENV_POD_NAME = "MODELPILOT_POD_NAME"
ENV_MAX_CONCURRENT_TRAININGS = "MODELPILOT_MAX_CONCURRENT_TRAININGS"
ENV_BUNDLES_KEEP_LAST = "MODELPILOT_BUNDLES_KEEP_LAST"
ENV_IMAGE_ALLOWLIST = "MODELPILOT_IMAGE_ALLOWLIST"
ENV_STORE_CLAIM_ALLOWLIST = "MODELPILOT_STORE_CLAIM_ALLOWLIST"
ENV_PROMETHEUS_ALLOWLIST = "MODELPILOT_PROMETHEUS_ALLOWLIST"
ENV_DATASET_SCHEMES = "MODELPILOT_DATASET_SCHEMES"
ENV_DATASET_CLAIM_ALLOWLIST = "MODELPILOT_DATASET_CLAIM_ALLOWLIST"
ENV_TRAINING_RESOURCES = "MODELPILOT_TRAINING_RESOURCES"
ENV_SERVING_RESOURCES = "MODELPILOT_SERVING_RESOURCES"
ENV_FINISHED_JOBS_KEPT = "MODELPILOT_FINISHED_JOBS_KEPT"
ENV_PRIORITY_CLASS_ALLOWLIST = "MODELPILOT_PRIORITY_CLASS_ALLOWLIST"
ENV_SERVICE_ACCOUNT_ALLOWLIST = "MODELPILOT_SERVICE_ACCOUNT_ALLOWLIST"
ENV_WEBHOOK_ALLOWLIST = "MODELPILOT_WEBHOOK_ALLOWLIST"
ENV_TRAINING_POD = "MODELPILOT_TRAINING_POD"
ENV_SERVING_POD = "MODELPILOT_SERVING_POD"
ENV_LOG_FORMAT = "MODELPILOT_LOG_FORMAT"
DEFAULT_POD_UID = 65532

# What the trainer image reads: S3 through modelpilot.api.s3 (MinIO's SDK). No gcsfs or
# adlfs is installed, so gs://, abfs:// and az:// would pass the policy and fail in the pod;
# a platform with its own trainer image adds them (local paths and dataset.pvc are no
# scheme: the policy checks them apart).
DEFAULT_DATASET_SCHEMES = ("s3",)
# The release this operator is: its own version's images (modelpilot.api.version).
DEFAULT_TRAINER_IMAGE = image("trainer")
DEFAULT_SERVING_IMAGE = image("serving")
# Requests small enough for a laptop cluster, limits that stop one model from taking a node.
# No CPU limit: throttling a server makes its latency (which the canary analysis judges)
# depend on its neighbours rather than on the model.
DEFAULT_TRAINING_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"memory": "2Gi", "ephemeral-storage": "1Gi"},
}
DEFAULT_SERVING_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"memory": "1Gi", "ephemeral-storage": "256Mi"},
}


class SettingsError(ValueError):
    """The operator's environment is wrong; it refuses to start and says which variable."""


@dataclass(frozen=True)
class Settings:
    trainer_image: str = DEFAULT_TRAINER_IMAGE
    serving_image: str = DEFAULT_SERVING_IMAGE
    image_pull_policy: str = "IfNotPresent"
    watch_namespaces: tuple[str, ...] = ()  # empty: cluster-wide
    estimator_allowlist: tuple[str, ...] = names.DEFAULT_ESTIMATOR_ALLOWLIST
    default_store_claim: str | None = None
    store_mount_path: str = "/models"
    pod_uid: int | None = DEFAULT_POD_UID  # None: the platform assigns one (OpenShift)
    resync_seconds: float = 300.0
    liveness_endpoint: str | None = None
    leader_election_namespace: str | None = None  # None: this operator always acts
    leader_election_lease: str = "modelpilot-operator"
    pod_name: str | None = None  # the Lease holder's identity, with a per-process suffix
    max_concurrent_trainings: int | None = None  # None: sized to the cluster at startup
    bundles_keep_last: int = 5
    image_allowlist: tuple[str, ...] = ()  # empty: the trainer and serving images only
    store_claim_allowlist: tuple[str, ...] = ()
    prometheus_allowlist: tuple[str, ...] = ()
    dataset_schemes: tuple[str, ...] = DEFAULT_DATASET_SCHEMES
    dataset_claim_allowlist: tuple[str, ...] = ()
    training_resources: Mapping[str, Any] = field(
        default_factory=lambda: dict(DEFAULT_TRAINING_RESOURCES)
    )
    serving_resources: Mapping[str, Any] = field(
        default_factory=lambda: dict(DEFAULT_SERVING_RESOURCES)
    )
    finished_jobs_kept: int = 3
    priority_class_allowlist: tuple[str, ...] = ()
    service_account_allowlist: tuple[str, ...] = ()
    webhook_allowlist: tuple[str, ...] = ()  # empty: every webhook/notification URL refused
    training_pod: PodPlacement | None = None  # the platform's default placement
    serving_pod: PodPlacement | None = None
    log_format: str = "text"  # or json; passed on to the serving pods


def _csv(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def _resources(env: Mapping[str, str], name: str, default: dict[str, Any]) -> dict[str, Any]:
    text = env.get(name)
    if not text:
        return dict(default)
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise SettingsError(f"{name} is not JSON: {exc}") from exc
    if not isinstance(value, dict) or set(value) - {"requests", "limits"}:
        raise SettingsError(f"{name} must be a JSON object with only requests and limits")
    return value


def _placement(env: Mapping[str, str], name: str) -> PodPlacement | None:
    text = env.get(name)
    if not text or text.strip() in ("{}", "null"):
        return None
    try:
        return PodPlacement.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(f"{name} is not a valid pod placement: {problems}") from exc


def _pod_uid(env: Mapping[str, str]) -> int | None:
    text = env.get(ENV_POD_UID)
    if text is None:
        return DEFAULT_POD_UID
    if text.strip().lower() in ("", "none", "null"):
        return None
    if not text.strip().isdigit():
        raise SettingsError(f"{ENV_POD_UID}={text!r}: use a uid number, or none")
    return int(text)


def _webhook_allowlist(env: Mapping[str, str]) -> tuple[str, ...]:
    patterns = _csv(env.get(ENV_WEBHOOK_ALLOWLIST))
    for pattern in patterns:
        if not pattern.startswith(("http://", "https://")):
            raise SettingsError(
                f"{ENV_WEBHOOK_ALLOWLIST}: {pattern!r} must start with http:// or https:// "
                "(a pattern of whole URLs, e.g. https://hooks.example.com/*)"
            )
    return patterns


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    try:
        resync = float(env.get(ENV_RESYNC_SECONDS, "300"))
        keep_last = int(env.get(ENV_BUNDLES_KEEP_LAST) or "5")
        jobs_kept = int(env.get(ENV_FINISHED_JOBS_KEPT) or "3")
    except ValueError as exc:
        raise SettingsError(
            f"{ENV_RESYNC_SECONDS} / {ENV_BUNDLES_KEEP_LAST} / {ENV_FINISHED_JOBS_KEPT}: {exc}"
        ) from exc
    if keep_last < 1:
        raise SettingsError(f"{ENV_BUNDLES_KEEP_LAST}={keep_last} must be at least 1")
    if jobs_kept < 0:
        raise SettingsError(f"{ENV_FINISHED_JOBS_KEPT}={jobs_kept} must be 0 or more")
    trainings_text = env.get(ENV_MAX_CONCURRENT_TRAININGS) or None
    trainings = None
    if trainings_text is not None:
        if not trainings_text.isdigit() or int(trainings_text) < 1:
            raise SettingsError(
                f"{ENV_MAX_CONCURRENT_TRAININGS}={trainings_text!r}: use a whole number >= 1"
            )
        trainings = int(trainings_text)
    log_format = env.get(ENV_LOG_FORMAT) or "text"
    if log_format not in ("text", "json"):
        raise SettingsError(f"{ENV_LOG_FORMAT}={log_format!r}: use text or json")
    policy = env.get(ENV_IMAGE_PULL_POLICY) or "IfNotPresent"
    if policy not in ("IfNotPresent", "Always", "Never"):
        raise SettingsError(f"{ENV_IMAGE_PULL_POLICY}={policy!r}: use IfNotPresent, Always, Never")
    mount = env.get(ENV_STORE_MOUNT_PATH) or "/models"
    if not mount.startswith("/"):
        raise SettingsError(f"{ENV_STORE_MOUNT_PATH}={mount!r} must be an absolute path")
    store, data = mount.rstrip("/") + "/", names.DATASET_MOUNT_PATH + "/"
    if store.startswith(data) or data.startswith(store):
        # A dataset claim is mounted there read-only: the two mounts would hide each other.
        raise SettingsError(
            f"{ENV_STORE_MOUNT_PATH}={mount!r} overlaps {names.DATASET_MOUNT_PATH}, where "
            "spec.training.dataset.pvc's claim is mounted; choose another path"
        )
    return Settings(
        trainer_image=env.get(ENV_TRAINER_IMAGE) or DEFAULT_TRAINER_IMAGE,
        serving_image=env.get(ENV_SERVING_IMAGE) or DEFAULT_SERVING_IMAGE,
        image_pull_policy=policy,
        watch_namespaces=_csv(env.get(ENV_WATCH_NAMESPACES)),
        estimator_allowlist=_csv(env.get(names.ENV_ESTIMATOR_ALLOWLIST))
        or names.DEFAULT_ESTIMATOR_ALLOWLIST,
        default_store_claim=env.get(ENV_DEFAULT_STORE_PVC) or None,
        store_mount_path=mount.rstrip("/") or "/",
        pod_uid=_pod_uid(env),
        resync_seconds=resync,
        liveness_endpoint=env.get(ENV_LIVENESS_ENDPOINT) or None,
        leader_election_namespace=env.get(ENV_LEADER_ELECTION_NAMESPACE) or None,
        leader_election_lease=env.get(ENV_LEADER_ELECTION_LEASE) or "modelpilot-operator",
        pod_name=env.get(ENV_POD_NAME) or None,
        max_concurrent_trainings=trainings,
        bundles_keep_last=keep_last,
        image_allowlist=_csv(env.get(ENV_IMAGE_ALLOWLIST)),
        store_claim_allowlist=_csv(env.get(ENV_STORE_CLAIM_ALLOWLIST)),
        prometheus_allowlist=tuple(a.rstrip("/") for a in _csv(env.get(ENV_PROMETHEUS_ALLOWLIST))),
        dataset_schemes=tuple(s.lower() for s in _csv(env.get(ENV_DATASET_SCHEMES)))
        or DEFAULT_DATASET_SCHEMES,
        dataset_claim_allowlist=_csv(env.get(ENV_DATASET_CLAIM_ALLOWLIST)),
        training_resources=_resources(env, ENV_TRAINING_RESOURCES, DEFAULT_TRAINING_RESOURCES),
        serving_resources=_resources(env, ENV_SERVING_RESOURCES, DEFAULT_SERVING_RESOURCES),
        finished_jobs_kept=jobs_kept,
        priority_class_allowlist=_csv(env.get(ENV_PRIORITY_CLASS_ALLOWLIST)),
        service_account_allowlist=_csv(env.get(ENV_SERVICE_ACCOUNT_ALLOWLIST)),
        webhook_allowlist=_webhook_allowlist(env),
        training_pod=_placement(env, ENV_TRAINING_POD),
        serving_pod=_placement(env, ENV_SERVING_POD),
        log_format=log_format,
    )
