"""Actions: what plan() wants done to the cluster, as data.

`modelpilot.operator.apply.apply(action, cluster, settings)` is the one interpreter. Every
action is idempotent when applied (create-if-absent, delete-if-present), because a tick
may be cut short by a restart after any of them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from modelpilot.api.pod_spec import PodPlacement
from modelpilot.api.spec import DEFAULT_MAX_BATCH_ROWS, S3Access, S3Store, TrafficRouter
from modelpilot.operator.routers.headers import HeaderRoute


@dataclass(frozen=True)
class CreateTrainingJob:
    """Job NAME-train-vN running `modelpilot train`; created only if absent."""

    name: str
    model: str
    revision: str
    spec_json: str  # {"training": ..., "evaluation": ...} by alias: MODELPILOT_SPEC_JSON
    store_claim: str | None  # None exactly when store_s3 is set
    active_deadline_seconds: int
    backoff_limit: int
    image: str | None = None  # None: the operator's MODELPILOT_TRAINER_IMAGE
    resources: Mapping[str, Any] | None = None
    stable_revision: str | None = None  # evaluate this stable on the same holdout
    stable_sha256: str | None = None
    # The data probe (spec.training.dataset.watch): `modelpilot train --fingerprint-only`,
    # given the previous probe report (JSON) so unchanged size/mtime/ETag skip the hashing.
    fingerprint_only: bool = False
    previous_report: str | None = None
    # status.candidate.specHash: recorded in the bundle, which is never reused for another.
    spec_hash: str | None = None
    # Revisions whose bundles the store's garbage collection keeps whatever their age: every
    # revision status still names (stable, candidate, canary, history).
    keep_revisions: tuple[str, ...] = ()
    # spec.training.dataset.uri: a local path below the store is mounted read-only.
    dataset_uri: str | None = None
    # spec.training.dataset.pvc.claimName: the whole claim, mounted read-only (policy-checked).
    dataset_claim: str | None = None
    # spec.training.pretrained.uri: on a store claim, its directory is mounted read-only.
    pretrained_uri: str | None = None
    store_s3: S3Store | None = None  # spec.modelStore.s3: bundles go up to S3
    dataset_s3: S3Access | None = None  # how the pod reaches an s3:// dataset
    pod: PodPlacement | None = None  # spec.training.pod, over the operator's default
    # spec.training.dataset.include [feedback]: the prediction logs, mounted read-only.
    include_feedback: bool = False


@dataclass(frozen=True)
class DeleteJob:
    name: str
    reason: str


@dataclass(frozen=True)
class EnsureServingDeployment:
    """Deployment NAME-vN running `modelpilot serve`: created, or patched to this intent."""

    name: str
    model: str
    revision: str
    model_sha256: str
    store_claim: str | None  # None exactly when store_s3 is set
    replicas: int
    image: str | None = None  # spec.serving.image; None: the default image below
    # The default serving image this revision's Deployment was first made with (its
    # modelpilot.dev/serving-image annotation); None for a new Deployment, or one an older
    # operator made: the operator's MODELPILOT_SERVING_IMAGE. A revision keeps its image
    # until its next revision, so upgrading the operator rolls no serving pod
    # (docs/upgrading.md). Not part of the intent hash, for the same reason.
    default_image: str | None = None
    resources: Mapping[str, Any] | None = None
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS  # spec.serving.maxBatchRows
    store_s3: S3Store | None = None  # spec.modelStore.s3: a fetch-bundle step downloads it
    publish_category_values: bool = False  # spec.monitoring.publishCategoryValues
    pod: PodPlacement | None = None  # spec.serving.pod, over the operator's default
    # spec.monitoring.logging: (sampleRate, maxBufferedRows, flushInterval seconds); None: off.
    prediction_log: tuple[float, int, float] | None = None

    def intent_hash(self) -> str:
        """Fingerprint of everything but the replica count (routers scale separately).

        Stamped on the Deployment as an annotation so plan() can tell, without comparing
        pod templates, whether the Deployment is what it would create today. maxBatchRows
        counts only when it is not the default, so Deployments made before it was wired
        keep their fingerprint (an operator upgrade restarts no serving pod).
        """
        intent = {k: v for k, v in asdict(self).items() if k not in ("replicas", "default_image")}
        if self.max_batch_rows == DEFAULT_MAX_BATCH_ROWS:
            del intent["max_batch_rows"]
        if not self.publish_category_values:
            del intent["publish_category_values"]
        if self.store_s3 is None:  # likewise for the S3 store: PVC Deployments keep theirs
            del intent["store_s3"]
        else:
            intent["store_s3"] = self.store_s3.model_dump(mode="json")
        if self.prediction_log is None:  # and without prediction logs
            del intent["prediction_log"]
        if self.pod is None:  # and for placement: Deployments without one keep theirs
            del intent["pod"]
        else:
            intent["pod"] = self.pod.model_dump(mode="json", by_alias=True, exclude_none=True)
        text = json.dumps(intent, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ScaleDeployment:
    name: str
    replicas: int


@dataclass(frozen=True)
class DeleteDeployment:
    name: str
    reason: str


@dataclass(frozen=True)
class EnsureService:
    """Service NAME or NAME-vN selecting serving pods: created, or its selector patched."""

    name: str
    model: str
    selector: Mapping[str, str] = field(default_factory=dict)
    revision: str | None = None  # the per-version Service's revision label


@dataclass(frozen=True)
class DeleteService:
    name: str
    reason: str


@dataclass(frozen=True)
class Route:
    """What a traffic router splits: two revisions of one model, through the spec's router.

    The interpreter turns it into a routers.RouteTarget (Services NAME-vN and Deployments
    NAME-vN of both revisions).
    """

    router: TrafficRouter  # spec.rollout.trafficRouter
    stable_revision: str
    canary_revision: str
    replicas: int  # spec.serving.replicas


@dataclass(frozen=True)
class SetWeights:
    """Traffic split between stable and canary, through spec.rollout.trafficRouter.

    Applied as ensure_routes (the canary's backend exists, at weight 0) then set_weights.
    """

    stable: int
    canary: int
    route: Route | None = None  # None only in tests that look at the split alone

    def __post_init__(self) -> None:
        if self.stable + self.canary != 100 or min(self.stable, self.canary) < 0:
            raise ValueError(f"weights must be >= 0 and sum to 100, got {self}")


@dataclass(frozen=True)
class FinalizeRoutes:
    """End a canary on the route: only the canary remains (promoted) or only stable (abort,
    supersede). Planned before the losing revision's Deployment and Service are deleted, so a
    route never sends to a Service that is gone; a route that no longer exists is done."""

    route: Route
    promoted: bool
    reason: str


@dataclass(frozen=True)
class SetHeaderRoutes:
    """Exactly these header routes send their requests to the canary (setHeaderRoute steps);
    the route's other rules and its weights are left as they are."""

    route: Route
    header_routes: tuple[HeaderRoute, ...]


Action = (
    CreateTrainingJob
    | DeleteJob
    | EnsureServingDeployment
    | ScaleDeployment
    | DeleteDeployment
    | EnsureService
    | DeleteService
    | SetWeights
    | SetHeaderRoutes
    | FinalizeRoutes
)
