"""The Kubernetes objects a ModelDeployment owns, built from actions (pure, plain dicts).

Training Jobs and serving Deployments run with the restricted Pod Security profile:
non-root, read-only root filesystem with an emptyDir for /tmp (both), no privilege
escalation, all capabilities dropped, seccomp RuntimeDefault, and no ServiceAccount token
(neither needs the API). A container whose spec sets no resources gets the operator's
defaults (settings.training_resources / serving_resources), so no pod runs unbounded;
training Jobs also carry activeDeadlineSeconds (a Deployment's pods may not, so serving pods
are bounded by their probes and progressDeadlineSeconds instead).
A pod sees of the model store only what it needs, through volume subPaths mounted at the
same paths they have below the store's root: the trainer its own revision's directory
(read-write), the stable bundle and a dataset directory in the store (read-only); its init
step `prepare-store` the model's directory STORE/NS/NAME (garbage collection, see
modelpilot.trainer.store); a serving pod its one bundle, read-only.

Bundles live at STORE/NS/NAME/UID/vN (`names.bundle_subpath`): the ModelDeployment's uid is
part of the path and is passed to both the trainer (recorded in metadata.json) and the
server (checked at load), so a ModelDeployment deleted and created again under its name
trains and serves its own revisions, never its predecessor's.

With spec.modelStore.s3 the store volume is an emptyDir laid out the same way, and S3 holds
the bundles at s3://BUCKET/PREFIX/NS/NAME/UID/vN/ (modelpilot.api.s3). The trainer
downloads stable into it and uploads its bundle (and collects S3 garbage with the same
keep-list); a serving pod's init step `fetch-bundle` downloads and verifies its one bundle,
and the server then reads it read-only as from a PVC. The credentials Secret reaches only
those containers, as secretKeyRef env variables: the operator never reads it, and the
server, which unpickles the model, never sees it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from modelpilot.api import names, s3
from modelpilot.api.fingerprint import ENV_DATA_PREVIOUS
from modelpilot.api.spec import DEFAULT_MAX_BATCH_ROWS, S3Access, S3Store
from modelpilot.operator.placement import merged, placed
from modelpilot.operator.rollout.actions import (
    CreateTrainingJob,
    EnsureService,
    EnsureServingDeployment,
)
from modelpilot.operator.settings import Settings

ANNOTATION_INTENT_HASH = f"{names.GROUP}/intent-hash"
ANNOTATION_MODEL_SHA256 = f"{names.GROUP}/model-sha256"
# On a serving Deployment: the default serving image it was first made with, which it keeps
# until its revision is replaced (EnsureServingDeployment.default_image).
ANNOTATION_SERVING_IMAGE = f"{names.GROUP}/serving-image"
STORE_VOLUME = "model-store"
DATASET_VOLUME = "dataset"  # spec.training.dataset.pvc's claim, read-only
SCRATCH_VOLUME = "tmp"
TERMINATION_LOG = "/dev/termination-log"
SERVING_PORT_NAME = "http"
SERVICE_PORT = 80
GRPC_PORT_NAME = "grpc"  # appProtocol grpc on the Service: meshes and gateways speak HTTP/2

PROBE_COMPONENT = "data-probe"  # label of the data probe Jobs (dataset.watch)


@dataclass(frozen=True)
class Owner:
    """The ModelDeployment every object points back to (garbage collection deletes them)."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    """`obj`'s controller owner reference is the ModelDeployment with `uid`.

    Observe counts only such objects, and apply refuses to change any other object of a name
    it needs (PermanentError NotOwned): both sides ask the same question here.
    """
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


def labels(model: str, *, component: str, revision: str | None = None) -> dict[str, str]:
    out = {
        names.LABEL_MODEL: model,
        names.LABEL_COMPONENT: component,
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
        "app.kubernetes.io/name": model,
    }
    if revision is not None:
        out[names.LABEL_REVISION] = revision
    return out


def _metadata(owner: Owner, name: str, lbls: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": lbls,
        "ownerReferences": [owner.reference()],
        **extra,
    }


def _pod_security(settings: Settings) -> dict[str, Any]:
    uid = settings.pod_uid
    ids = {} if uid is None else {"runAsUser": uid, "runAsGroup": uid, "fsGroup": uid}
    return {
        "runAsNonRoot": True,
        # No uid: the platform assigns one (OpenShift's restricted SCC refuses a fixed one).
        **ids,
        # Without it the kubelet chowns every file of a volume that supports ownership
        # management on each pod start: the whole model store, every bundle of every model.
        # Only when the volume's root is not already ours is the walk needed.
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security(*, read_only_root: bool) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def bundle_dir(settings: Settings, owner: Owner, revision: str) -> str:
    """Where the pods see `owner`'s revision: the store mount path + NS/NAME/UID/vN."""
    subpath = names.bundle_subpath(owner.namespace, owner.name, owner.uid, revision)
    return f"{settings.store_mount_path}/{subpath}"


def _store_mount(settings: Settings, subpath: str, *, read_only: bool) -> dict[str, Any]:
    """One directory of the store, at the same path below the mount path as in the store."""
    mount: dict[str, Any] = {
        "name": STORE_VOLUME,
        "mountPath": f"{settings.store_mount_path}/{subpath}",
        "subPath": subpath,
    }
    if read_only:
        mount["readOnly"] = True
    return mount


def _credentials_env(access: S3Access, prefix: str = "") -> list[dict[str, Any]]:
    """The Secret's standard keys as env variables (the session token is optional): the
    kubelet resolves them, so the operator needs no Secret access. Without a Secret, the
    pods take the SDK's default chain (their ServiceAccount's cloud identity)."""
    if access.credentials_secret is None:
        name = s3.ENV_DATA_S3_CREDENTIALS if prefix else s3.ENV_S3_CREDENTIALS
        return [{"name": name, "value": s3.DEFAULT_CHAIN}]
    return [
        {
            "name": prefix + key,
            "valueFrom": {
                "secretKeyRef": {
                    "name": access.credentials_secret,
                    "key": key,
                    **({"optional": True} if key == s3.KEY_SESSION_TOKEN else {}),
                }
            },
        }
        for key in s3.CREDENTIAL_KEYS
    ]


def s3_store_env(store: S3Store) -> list[dict[str, Any]]:
    """Where the S3 model store is, and the credentials to reach it."""
    env = [{"name": s3.ENV_S3_BUCKET, "value": store.bucket}]
    if store.prefix:
        env.append({"name": s3.ENV_S3_PREFIX, "value": store.prefix})
    if store.endpoint:
        env.append({"name": s3.ENV_S3_ENDPOINT, "value": store.endpoint})
    if store.region:
        env.append({"name": s3.ENV_S3_REGION, "value": store.region})
    return env + _credentials_env(store)


def s3_dataset_env(access: S3Access) -> list[dict[str, Any]]:
    """How to reach an s3:// dataset, in the MODELPILOT_DATA_ variables."""
    env = []
    if access.endpoint:
        env.append({"name": s3.ENV_DATA_S3_ENDPOINT, "value": access.endpoint})
    if access.region:
        env.append({"name": s3.ENV_DATA_S3_REGION, "value": access.region})
    return env + _credentials_env(access, s3.DATA_ENV_PREFIX)


def _store_volume(claim: str | None, *, read_only: bool) -> dict[str, Any]:
    """The model store: the claim, or (S3 store) an emptyDir the pod downloads into."""
    if claim is None:
        return {"name": STORE_VOLUME, "emptyDir": {}}
    source: dict[str, Any] = {"claimName": claim}
    if read_only:
        source["readOnly"] = True
    return {"name": STORE_VOLUME, "persistentVolumeClaim": source}


def dataset_subpath(settings: Settings, uri: str | None) -> str | None:
    """The store directory holding a local dataset (`/models/data/x.csv` -> `data`), or None
    when the dataset is not a local path below the store (builtin, s3://, elsewhere)."""
    if not uri:
        return None
    path = uri.removeprefix("file://")
    if "://" in path or not path.startswith("/"):
        return None
    parts = PurePosixPath(posixpath.normpath(path)).parts
    glob = next((i for i, p in enumerate(parts) if any(c in p for c in "*?[")), None)
    if glob is not None:
        # A glob (data/sales/2026-*/part-*.parquet): the directory above its first wildcard.
        parts = (*parts[:glob], "*")
    root = PurePosixPath(settings.store_mount_path).parts
    if len(parts) < len(root) + 2 or parts[: len(root)] != root:
        return None  # the store root itself, or outside it
    return "/".join(parts[len(root) : -1])


def training_job(action: CreateTrainingJob, owner: Owner, settings: Settings) -> dict[str, Any]:
    probe = action.fingerprint_only
    lbls = (
        labels(action.model, component=PROBE_COMPONENT)
        if probe
        else labels(action.model, component="trainer", revision=action.revision)
    )
    own = names.bundle_subpath(owner.namespace, owner.name, owner.uid, action.revision)
    output = f"{settings.store_mount_path}/{own}"
    env = [
        {"name": names.ENV_SPEC_JSON, "value": action.spec_json},
        {"name": names.ENV_OUTPUT, "value": output},
        {"name": names.ENV_OWNER_UID, "value": owner.uid},
        {"name": names.ENV_TERMINATION_LOG, "value": TERMINATION_LOG},
        {"name": names.ENV_MODEL_NAME, "value": action.model},
        {"name": names.ENV_NAMESPACE, "value": owner.namespace},
        {"name": names.ENV_REVISION, "value": action.revision},
        {"name": names.ENV_ESTIMATOR_ALLOWLIST, "value": ",".join(settings.estimator_allowlist)},
        {"name": "HOME", "value": "/tmp"},
        # The trainer refuses a data set larger than a share of this before reading it
        # (modelpilot.trainer.datasize); the downward API gives the limit in bytes.
        {
            "name": names.ENV_MEMORY_LIMIT,
            "valueFrom": {
                "resourceFieldRef": {"containerName": "trainer", "resource": "limits.memory"}
            },
        },
    ]
    if action.dataset_claim is not None:
        env.append({"name": names.ENV_DATASET_DIR, "value": names.DATASET_MOUNT_PATH})
    if probe and action.previous_report:
        env.append({"name": ENV_DATA_PREVIOUS, "value": action.previous_report})
    if action.spec_hash:
        env.append({"name": names.ENV_SPEC_HASH, "value": action.spec_hash})
    if action.dataset_s3 is not None:
        env += s3_dataset_env(action.dataset_s3)
    remote = action.store_s3
    if remote is not None and not probe:
        # The trainer itself talks to S3 (stable down, bundle up) and collects S3 garbage
        # with the keep-list prepare-store gets on a PVC.
        env += s3_store_env(remote)
        env += [
            {"name": names.ENV_KEEP_LAST, "value": str(settings.bundles_keep_last)},
            {"name": names.ENV_KEEP_REVISIONS, "value": ",".join(action.keep_revisions)},
        ]
    # Only its own revision is writable; nothing else of the store is visible but stable's
    # bundle and the dataset's directory, read-only. The data probe writes nothing: it sees
    # the dataset's directory alone.
    mounts = [] if probe else [_store_mount(settings, own, read_only=False)]
    if action.stable_revision and action.stable_sha256 and not probe:
        stable = names.bundle_subpath(
            owner.namespace, owner.name, owner.uid, action.stable_revision
        )
        env += [
            {"name": names.ENV_STABLE_DIR, "value": f"{settings.store_mount_path}/{stable}"},
            {"name": names.ENV_STABLE_SHA256, "value": action.stable_sha256},
        ]
        mounts.append(_store_mount(settings, stable, read_only=True))
    data = dataset_subpath(settings, action.dataset_uri)
    if data is not None and remote is None:
        mounts.append(_store_mount(settings, data, read_only=True))
    if action.include_feedback and remote is None and not probe:
        # Every revision's prediction logs and labels, read-only (dataset.include [feedback]).
        logs = names.predictions_subpath(owner.namespace, owner.name, owner.uid)
        env.append({"name": names.ENV_FEEDBACK_DIR, "value": f"{settings.store_mount_path}/{logs}"})
        mounts.append(_store_mount(settings, logs, read_only=True))
    # A pretrained model on the claim: its directory, read-only (the data probe needs none).
    model_dir = None if probe else dataset_subpath(settings, action.pretrained_uri)
    mounted = {m.get("subPath") for m in mounts}
    if model_dir is not None and remote is None and model_dir not in mounted:
        mounts.append(_store_mount(settings, model_dir, read_only=True))
    if remote is not None:
        # The pod's own emptyDir: nothing in it but what this trainer downloads and writes.
        mounts = [] if probe else [{"name": STORE_VOLUME, "mountPath": settings.store_mount_path}]
    volumes: list[dict[str, Any]] = [
        _store_volume(action.store_claim, read_only=False),
        {"name": SCRATCH_VOLUME, "emptyDir": {"sizeLimit": "1Gi"}},
    ]
    if action.dataset_claim is not None:
        # The whole claim, read-only twice over (volume and mount): the trainer only reads.
        mounts.append(
            {"name": DATASET_VOLUME, "mountPath": names.DATASET_MOUNT_PATH, "readOnly": True}
        )
        volumes.append(
            {
                "name": DATASET_VOLUME,
                "persistentVolumeClaim": {"claimName": action.dataset_claim, "readOnly": True},
            }
        )
    image = action.image or settings.trainer_image
    prepare: dict[str, Any] = {
        "name": "prepare-store",
        "image": image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["modelpilot", "prepare-store"],
        "env": [
            {"name": names.ENV_OUTPUT, "value": output},
            {"name": names.ENV_OWNER_UID, "value": owner.uid},
            {"name": names.ENV_KEEP_LAST, "value": str(settings.bundles_keep_last)},
            {"name": names.ENV_KEEP_REVISIONS, "value": ",".join(action.keep_revisions)},
        ],
        "volumeMounts": [
            _store_mount(
                settings, names.model_subpath(owner.namespace, owner.name), read_only=False
            )
        ],
        "securityContext": _container_security(read_only_root=True),
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"memory": "128Mi"},
        },
    }
    container: dict[str, Any] = {
        "name": "trainer",
        "image": image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["modelpilot", "train", *(["--fingerprint-only"] if probe else [])],
        "env": env,
        "volumeMounts": [*mounts, {"name": SCRATCH_VOLUME, "mountPath": "/tmp"}],
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        # The trainer writes only the bundle (its revision's mount) and scratch files in /tmp.
        "securityContext": _container_security(read_only_root=True),
        "resources": dict(action.resources or settings.training_resources),
    }
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(owner, action.name, lbls),
        "spec": {
            "backoffLimit": action.backoff_limit,
            "activeDeadlineSeconds": action.active_deadline_seconds,
            "template": {
                "metadata": {"labels": lbls},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": _pod_security(settings),
                    "initContainers": [] if probe or remote is not None else [prepare],
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }
    spec = job["spec"]
    spec["template"] = placed(spec["template"], merged(settings.training_pod, action.pod))
    return job


def default_serving_image(action: EnsureServingDeployment, settings: Settings) -> str:
    """The image a revision serves with when its spec names none: the one its Deployment was
    first made with, else the operator's own. An operator upgrade thus changes the image of
    new revisions only; serving pods are never all rolled at once because the operator did."""
    return action.default_image or settings.serving_image


def serving_deployment(
    action: EnsureServingDeployment, owner: Owner, settings: Settings
) -> dict[str, Any]:
    lbls = labels(action.model, component="serving", revision=action.revision)
    selector = {
        k: lbls[k] for k in (names.LABEL_MODEL, names.LABEL_COMPONENT, names.LABEL_REVISION)
    }
    probe_port = SERVING_PORT_NAME
    container: dict[str, Any] = {
        "name": "server",
        "image": action.image or default_serving_image(action, settings),
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["modelpilot", "serve"],
        "args": [
            "--model-dir",
            bundle_dir(settings, owner, action.revision),
            "--expected-owner-uid",
            owner.uid,
            "--model-name",
            action.model,
            "--model-version",
            action.revision,
            "--expected-sha256",
            action.model_sha256,
            "--port",
            str(names.SERVING_PORT),
            "--grpc-port",
            str(names.GRPC_PORT),
            # Only when set: the pod template of a default spec stays what it always was.
            *(
                []
                if action.max_batch_rows == DEFAULT_MAX_BATCH_ROWS
                else ["--max-batch-rows", str(action.max_batch_rows)]
            ),
            *(["--publish-category-values"] if action.publish_category_values else []),
            *_prediction_log_args(action, owner, settings),
        ],
        "env": [
            {"name": "HOME", "value": "/tmp"},
            # Only when set: the pod template of a text-logging operator stays as it was.
            *(
                [{"name": "MODELPILOT_LOG_FORMAT", "value": "json"}]
                if settings.log_format == "json"
                else []
            ),
        ],
        "ports": [
            {"name": SERVING_PORT_NAME, "containerPort": names.SERVING_PORT},
            {"name": GRPC_PORT_NAME, "containerPort": names.GRPC_PORT},
        ],
        # Readiness is polled often (it gates promotion); liveness is patient, so a server
        # still importing scikit-learn on a busy node is not killed before it ever served.
        "readinessProbe": {
            "httpGet": {"path": "/v2/health/ready", "port": probe_port},
            "periodSeconds": 2,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", "port": probe_port},
            "initialDelaySeconds": 15,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
        "volumeMounts": [
            _store_mount(
                settings,
                names.bundle_subpath(owner.namespace, owner.name, owner.uid, action.revision),
                read_only=True,
            ),
            # Prediction logs: its own revision's log directory, the one place it writes.
            *(
                []
                if action.prediction_log is None
                else [
                    _store_mount(
                        settings,
                        names.predictions_subpath(
                            owner.namespace, owner.name, owner.uid, action.revision
                        ),
                        read_only=False,
                    )
                ]
            ),
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "securityContext": _container_security(read_only_root=True),
        "resources": dict(action.resources or settings.serving_resources),
    }
    fetch = None if action.store_s3 is None else _fetch_bundle(action, owner, settings)
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(
            owner,
            action.name,
            lbls,
            annotations={
                ANNOTATION_INTENT_HASH: action.intent_hash(),
                ANNOTATION_MODEL_SHA256: action.model_sha256,
                ANNOTATION_SERVING_IMAGE: default_serving_image(action, settings),
            },
        ),
        "spec": {
            "replicas": action.replicas,
            "selector": {"matchLabels": selector},
            "progressDeadlineSeconds": 300,
            "revisionHistoryLimit": 2,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": lbls,
                    "annotations": {ANNOTATION_MODEL_SHA256: action.model_sha256},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": _pod_security(settings),
                    "initContainers": [] if fetch is None else [fetch],
                    "containers": [container],
                    "volumes": [
                        # Read-only unless it logs predictions; the bundle's mount stays
                        # read-only either way.
                        _store_volume(action.store_claim, read_only=action.prediction_log is None),
                        {"name": SCRATCH_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    }
    spec = deployment["spec"]
    spec["template"] = placed(spec["template"], merged(settings.serving_pod, action.pod))
    return deployment


def _prediction_log_args(
    action: EnsureServingDeployment, owner: Owner, settings: Settings
) -> list[str]:
    if action.prediction_log is None:
        return []
    rate, buffered, flush = action.prediction_log
    directory = names.predictions_subpath(owner.namespace, owner.name, owner.uid, action.revision)
    return [
        "--prediction-log-dir",
        f"{settings.store_mount_path}/{directory}",
        "--log-sample-rate",
        f"{rate:g}",
        "--log-max-buffered-rows",
        str(buffered),
        "--log-flush-seconds",
        f"{flush:g}",
    ]


def _fetch_bundle(
    action: EnsureServingDeployment, owner: Owner, settings: Settings
) -> dict[str, Any]:
    """The serving pod's init step with an S3 store: download the bundle into the emptyDir
    and verify its digest (modelpilot.serving.fetch)."""
    store = action.store_s3
    assert store is not None
    key = s3.StoreLocation(store.bucket, store.prefix).bundle_key(
        owner.namespace, owner.name, owner.uid, action.revision
    )
    return {
        "name": "fetch-bundle",
        "image": action.image or default_serving_image(action, settings),
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["modelpilot", "fetch-bundle"],
        "args": [
            "--model-dir",
            bundle_dir(settings, owner, action.revision),
            "--key-prefix",
            key,
            "--expected-sha256",
            action.model_sha256,
        ],
        "env": [
            *s3_store_env(store),
            {"name": names.ENV_TERMINATION_LOG, "value": TERMINATION_LOG},
            {"name": "HOME", "value": "/tmp"},
        ],
        "volumeMounts": [
            {"name": STORE_VOLUME, "mountPath": settings.store_mount_path},
            {"name": SCRATCH_VOLUME, "mountPath": "/tmp"},
        ],
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": _container_security(read_only_root=True),
        "resources": {
            "requests": {"cpu": "10m", "memory": "64Mi"},
            "limits": {"memory": "256Mi"},
        },
    }


def service(action: EnsureService, owner: Owner) -> dict[str, Any]:
    lbls = labels(action.model, component="serving", revision=action.revision)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(owner, action.name, lbls),
        "spec": {
            "type": "ClusterIP",
            "selector": dict(action.selector),
            "ports": [
                {
                    "name": SERVING_PORT_NAME,
                    "port": SERVICE_PORT,
                    "targetPort": SERVING_PORT_NAME,
                    "protocol": "TCP",
                },
                {
                    "name": GRPC_PORT_NAME,
                    "port": names.GRPC_PORT,
                    "targetPort": GRPC_PORT_NAME,
                    "protocol": "TCP",
                    "appProtocol": "grpc",
                },
            ],
        },
    }
