"""Names shared across components: the API group, labels, annotations, environment variables."""

from __future__ import annotations

GROUP = "modelpilot.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
SINGULAR = "modeldeployment"
SHORT_NAME = "mdep"

# Labels on every object modelpilot creates.
LABEL_MODEL = f"{GROUP}/model"  # the ModelDeployment's name
LABEL_REVISION = f"{GROUP}/revision"  # "v3"
LABEL_COMPONENT = f"{GROUP}/component"  # "trainer" | "serving"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "modelpilot"
# A PersistentVolumeClaim the platform team has marked as a model store: the operator mounts
# a claim a ModelDeployment names only when it carries this label with value "true" (or the
# operator's MODELPILOT_STORE_CLAIM_ALLOWLIST names it). docs/security.md says why.
LABEL_MODEL_STORE = f"{GROUP}/model-store"
# A PersistentVolumeClaim its owner has marked as holding training data: the operator mounts
# a claim spec.training.dataset.pvc names (read-only, into the trainer and the data probe)
# only when it carries this label with value "true" (or MODELPILOT_DATASET_CLAIM_ALLOWLIST
# names it). A model-store claim is never a dataset claim: whoever writes data there could
# write bundles.
LABEL_DATASET = f"{GROUP}/dataset"

# Annotations a person (or the CLI) sets on a ModelDeployment.
ANNOTATION_RETRAIN = f"{GROUP}/retrain-requested-at"  # any new value asks for a new revision
ANNOTATION_PROMOTE = f"{GROUP}/promote-requested-at"  # promote the canary one step / fully
ANNOTATION_PROMOTE_FULL = f"{GROUP}/promote-full"  # "true": skip the remaining steps
ANNOTATION_ABORT = f"{GROUP}/abort-requested-at"  # abort the canary

# HTTP response headers the server sets so traffic can be counted per version.
HEADER_MODEL_VERSION = "modelpilot-model-version"
HEADER_MODEL_SHA256 = "modelpilot-model-sha256"

# Environment variables the operator passes to training and serving pods.
ENV_SPEC = "MODELPILOT_SPEC"  # path of the training spec file (YAML/JSON)
ENV_SPEC_JSON = "MODELPILOT_SPEC_JSON"  # the same spec inline, as JSON (no ConfigMap needed)
ENV_OUTPUT = "MODELPILOT_OUTPUT"  # bundle directory to write
ENV_STABLE_DIR = "MODELPILOT_STABLE_DIR"
ENV_STABLE_SHA256 = "MODELPILOT_STABLE_SHA256"
ENV_TERMINATION_LOG = "MODELPILOT_TERMINATION_LOG"
ENV_MODEL_DIR = "MODELPILOT_MODEL_DIR"
ENV_MODEL_NAME = "MODELPILOT_MODEL_NAME"
ENV_NAMESPACE = "MODELPILOT_NAMESPACE"  # the ModelDeployment's namespace (trainer metadata)
ENV_REVISION = "MODELPILOT_REVISION"  # "v3" (trainer metadata)
ENV_MODEL_VERSION = "MODELPILOT_MODEL_VERSION"
ENV_EXPECTED_SHA256 = "MODELPILOT_EXPECTED_SHA256"
ENV_PORT = "MODELPILOT_PORT"
ENV_ESTIMATOR_ALLOWLIST = "MODELPILOT_ESTIMATOR_ALLOWLIST"  # comma-separated glob patterns
# The bundle's binding (modelpilot.api.bundle): the ModelDeployment's metadata.uid, and the
# hash of the spec a revision was cut from. Given to the trainer (recorded in metadata.json,
# checked before reusing a directory or scoring stable) and to the server (checked at load).
ENV_OWNER_UID = "MODELPILOT_OWNER_UID"
ENV_SPEC_HASH = "MODELPILOT_SPEC_HASH"
# Store garbage collection (modelpilot.trainer.store): keep the newest K revisions of this
# ModelDeployment and the comma-separated revisions its status still names.
ENV_KEEP_LAST = "MODELPILOT_KEEP_LAST"
ENV_KEEP_REVISIONS = "MODELPILOT_KEEP_REVISIONS"

# spec.training.dataset.pvc: where the trainer and the data probe see the dataset claim
# (read-only); the operator sets the variable to the mount path it chose.
ENV_DATASET_DIR = "MODELPILOT_DATASET_DIR"
DATASET_MOUNT_PATH = "/data"
# The most bytes (on disk or in the bucket, all parts together) the trainer loads; without it,
# an eighth of the trainer container's memory limit (ENV_MEMORY_LIMIT, the downward API's
# limits.memory), so a data set that cannot fit is refused before it is read.
ENV_DATASET_MAX_BYTES = "MODELPILOT_DATASET_MAX_BYTES"
ENV_MEMORY_LIMIT = "MODELPILOT_MEMORY_LIMIT"

DEFAULT_ESTIMATOR_ALLOWLIST = ("sklearn.*",)
SERVING_PORT = 8080
GRPC_PORT = 8081  # the Open Inference Protocol over gRPC (`modelpilot serve --grpc-port`)


def revision_name(number: int) -> str:
    """Revisions are numbered v1, v2, ... per ModelDeployment."""
    return f"v{number}"


def revision_number(name: str) -> int:
    if not name.startswith("v") or not name[1:].isdigit():
        raise ValueError(f"not a revision name: {name!r} (expected v1, v2, ...)")
    return int(name[1:])


def model_subpath(namespace: str, name: str) -> str:
    """Every incarnation of one ModelDeployment name, below the model store root."""
    return f"{namespace}/{name}"


def incarnation_subpath(namespace: str, name: str, uid: str) -> str:
    """One ModelDeployment object's revisions: a re-created object (new uid) starts afresh."""
    return f"{namespace}/{name}/{uid}"


def bundle_subpath(namespace: str, name: str, uid: str, revision: str) -> str:
    """Where a revision's bundle lives below the model store root: NS/NAME/UID/vN."""
    return f"{namespace}/{name}/{uid}/{revision}"


# Prediction logs (spec.monitoring.logging): STORE/NS/NAME/UID/predictions/vN/*.parquet,
# written by that revision's serving pods, read (every revision's) by the trainer with
# spec.training.dataset.include [feedback]. Not named like a revision, so the store's
# garbage collection leaves it alone.
PREDICTIONS_DIR = "predictions"
ENV_FEEDBACK_DIR = "MODELPILOT_FEEDBACK_DIR"  # the trainer: the predictions directory


def predictions_subpath(namespace: str, name: str, uid: str, revision: str | None = None) -> str:
    """Where the prediction logs live below the store root: NS/NAME/UID/predictions[/vN]."""
    base = f"{namespace}/{name}/{uid}/{PREDICTIONS_DIR}"
    return base if revision is None else f"{base}/{revision}"
