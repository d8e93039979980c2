"""Observe once per tick: the owned objects, as the apiserver returned them, into a World.

Pure (plain dicts in, frozen World out) so it is tested with recorded objects. Only objects
whose controller owner reference is this ModelDeployment's UID count: a ModelDeployment
deleted and re-created under the same name never adopts its predecessor's leftovers.

Pods are matched by owner too, never by labels alone (labels are only how they are listed):
a training summary is read only from pods whose controller is that Job (its uid), and the
serving pods whose readiness and IPs count (canary analysis scrapes them) only from the
ReplicaSets the Deployment controls. A pod that merely carries our labels — a predecessor's
leftover, or one anybody created — is never believed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelpilot.api import names
from modelpilot.api.fingerprint import DataProbeReport
from modelpilot.api.summary import decode
from modelpilot.operator.objects import (
    ANNOTATION_INTENT_HASH,
    ANNOTATION_SERVING_IMAGE,
    PROBE_COMPONENT,
    owned_by,
)
from modelpilot.operator.rollout.policy import (
    dataset_claim_needs_label,
    policy_of,
    store_needs_label,
)
from modelpilot.operator.rollout.world import (
    ObservedDeployment,
    ObservedJob,
    ObservedProbe,
    ObservedService,
    World,
)
from modelpilot.operator.settings import Settings

Obj = Mapping[str, Any]
# Container waiting reasons that will not go away by themselves soon.
_STUCK_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
    "RunContainerError",
}
_TAIL = 400  # characters of a foreign termination message shown in a condition


def _labels(obj: Obj) -> Mapping[str, str]:
    return obj.get("metadata", {}).get("labels") or {}


def _condition(obj: Obj, type_: str) -> Obj | None:
    conditions: list[Obj] = obj.get("status", {}).get("conditions") or []
    for c in conditions:
        if c.get("type") == type_:
            return c
    return None


def observe(
    model_deployment: Obj,
    *,
    jobs: Iterable[Obj],
    pods: Iterable[Obj],
    deployments: Iterable[Obj],
    services: Iterable[Obj],
    settings: Settings,
    replica_sets: Iterable[Obj] = (),
    store_claim: Obj | None = None,
    verified_store_claim: str | None = None,
    dataset_claim: Obj | None = None,
    verified_dataset_claim: str | None = None,
) -> World:
    """`store_claim`: the PersistentVolumeClaim the spec names, when the policy needs its
    labels (see store_claim_to_read); None when it does not exist or was not read.
    `dataset_claim`: spec.training.dataset.pvc's claim likewise (dataset_claim_to_read)."""
    meta = model_deployment["metadata"]
    uid = meta["uid"]
    pods, replica_sets = list(pods), list(replica_sets)
    observed_jobs = {}
    for job in jobs:
        if not owned_by(job, uid) or names.LABEL_REVISION not in _labels(job):
            continue
        revision = _labels(job)[names.LABEL_REVISION]
        observed_jobs[revision] = observe_job(job, controlled_by(pods, [job]))
    observed_probes = {
        job["metadata"]["name"]: observe_probe(job, controlled_by(pods, [job]))
        for job in jobs
        if owned_by(job, uid) and _labels(job).get(names.LABEL_COMPONENT) == PROBE_COMPONENT
    }
    observed_deployments = {}
    for deployment in deployments:
        if not owned_by(deployment, uid) or names.LABEL_REVISION not in _labels(deployment):
            continue
        revision = _labels(deployment)[names.LABEL_REVISION]
        mine = controlled_by(pods, controlled_by(replica_sets, [deployment]))
        observed_deployments[revision] = observe_deployment(deployment, mine)
    observed_services = {
        s["metadata"]["name"]: ObservedService(
            name=s["metadata"]["name"], selector=dict(s.get("spec", {}).get("selector") or {})
        )
        for s in services
        if owned_by(s, uid)
    }
    return World(
        name=meta["name"],
        namespace=meta["namespace"],
        generation=int(meta.get("generation") or 0),
        annotations=dict(meta.get("annotations") or {}),
        jobs=observed_jobs,
        probes=observed_probes,
        deployments=observed_deployments,
        services=observed_services,
        estimator_allowlist=settings.estimator_allowlist,
        default_store_claim=settings.default_store_claim,
        policy=policy_of(settings),
        finished_jobs_kept=settings.finished_jobs_kept,
        store_claim_labels=None if store_claim is None else dict(_labels(store_claim)),
        verified_store_claim=verified_store_claim,
        dataset_claim_labels=None if dataset_claim is None else dict(_labels(dataset_claim)),
        verified_dataset_claim=verified_dataset_claim,
    )


def controlled_by(objects: Iterable[Obj], owners: Iterable[Obj]) -> list[Obj]:
    """The objects whose controller owner reference is one of `owners` (by uid)."""
    uids = {o["metadata"]["uid"] for o in owners if o.get("metadata", {}).get("uid")}
    return [o for o in objects if any(owned_by(o, u) for u in uids)]


def store_claim_to_read(spec_raw: Obj, settings: Settings) -> str | None:
    """The claim whose labels the policy needs this tick, or None (the spec names none, or
    the policy allows it without a label)."""
    claim = ((spec_raw.get("modelStore") or {}).get("pvc") or {}).get("claimName")
    if not isinstance(claim, str) or not claim:
        return None
    return claim if store_needs_label(policy_of(settings), claim) else None


def dataset_claim_to_read(spec_raw: Obj, settings: Settings) -> str | None:
    """spec.training.dataset.pvc's claim when the policy needs its labels this tick, or
    None (the spec names none, or the allowlist admits it)."""
    training = spec_raw.get("training") or {}
    claim = ((training.get("dataset") or {}).get("pvc") or {}).get("claimName")
    if not isinstance(claim, str) or not claim:
        return None
    return claim if dataset_claim_needs_label(policy_of(settings), claim) else None


def observe_probe(job: Obj, pods: list[Obj]) -> ObservedProbe:
    """A data probe Job: finished or not, and the report in its pod's termination message."""
    name = job["metadata"]["name"]
    own = list(pods)  # already only the pods this Job controls
    finished = any(
        (c := _condition(job, t)) is not None and c.get("status") == "True"
        for t in ("Complete", "Failed")
    )
    terminated = _newest_terminated(own)
    report, problem = None, None
    if terminated is not None:
        message = (terminated.get("message") or "").strip()
        try:
            report = DataProbeReport.model_validate_json(message)
        except ValueError:
            problem = f"probe exited with code {terminated.get('exitCode')}: {message[-_TAIL:]}"
    return ObservedProbe(name=name, finished=finished, report=report, problem=problem)


def observe_job(job: Obj, pods: list[Obj]) -> ObservedJob:
    complete = _condition(job, "Complete")
    failed = _condition(job, "Failed")
    is_failed = failed is not None and failed.get("status") == "True"
    summary, problem = None, None
    terminated = _newest_terminated(pods)
    if terminated is not None:
        message = (terminated.get("message") or "").strip()
        try:
            summary = decode(message)
        except ValueError:
            code = terminated.get("exitCode")
            tail = message[-_TAIL:] if message else "(no termination message)"
            problem = f"trainer exited with code {code}: {tail}"
    return ObservedJob(
        name=job["metadata"]["name"],
        revision=_labels(job)[names.LABEL_REVISION],
        succeeded=complete is not None and complete.get("status") == "True",
        failed=is_failed,
        failure_reason=failed.get("reason") if is_failed and failed else None,
        failure_message=failed.get("message") if is_failed and failed else None,
        summary=summary,
        summary_problem=problem,
        pod_problem=None if terminated is not None else _pod_problem(pods),
    )


def _newest_terminated(pods: list[Obj]) -> Obj | None:
    found = []
    for pod in pods:
        for status in pod.get("status", {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated")
            if terminated:
                found.append(terminated)
    return max(found, key=lambda t: t.get("finishedAt") or "", default=None)


def _pod_problem(pods: list[Obj]) -> str | None:
    """The first reason a pod is not running/Ready that a person may need to act on."""
    for pod in pods:
        name = pod.get("metadata", {}).get("name", "?")
        scheduled = _condition(pod, "PodScheduled")
        if scheduled and scheduled.get("status") == "False":
            why = scheduled.get("message") or scheduled.get("reason") or "not scheduled"
            return f"pod {name} is unschedulable: {why}"
        pod_status = pod.get("status", {})
        # Init containers first: with an S3 store, fetch-bundle's refusal (a digest that does
        # not match, a missing bundle, wrong credentials) is why the server never starts.
        inits = pod_status.get("initContainerStatuses") or []
        for status in inits:
            failed = (status.get("state") or {}).get("terminated") or {}
            if failed and failed.get("exitCode", 0) != 0:
                detail = (failed.get("message") or "").strip()[-_TAIL:]
                return f"pod {name}: init container {status.get('name')} failed" + (
                    f": {detail}" if detail else f" (exit code {failed.get('exitCode')})"
                )
        for status in [*inits, *(pod_status.get("containerStatuses") or [])]:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in _STUCK_WAITING:
                last = ((status.get("lastState") or {}).get("terminated") or {}).get("message")
                detail = (last or waiting.get("message") or "").strip()[-_TAIL:]
                return f"pod {name}: {waiting['reason']}" + (f": {detail}" if detail else "")
            last = (status.get("lastState") or {}).get("terminated")
            if last and not status.get("ready") and status.get("restartCount", 0) > 0:
                detail = (last.get("message") or "").strip()[-_TAIL:]
                return f"pod {name} restarted after exit code {last.get('exitCode')}" + (
                    f": {detail}" if detail else ""
                )
    return None


def observe_deployment(deployment: Obj, pods: list[Obj]) -> ObservedDeployment:
    meta, spec, status = (
        deployment["metadata"],
        deployment.get("spec", {}),
        deployment.get("status", {}),
    )
    progressing = _condition(deployment, "Progressing")
    failure = None
    if (
        progressing
        and progressing.get("status") == "False"
        and progressing.get("reason") == "ProgressDeadlineExceeded"
    ):
        failure = progressing.get("message") or "progress deadline exceeded"
    ready = int(status.get("readyReplicas") or 0)
    replicas = int(spec.get("replicas") if spec.get("replicas") is not None else 1)
    return ObservedDeployment(
        name=meta["name"],
        revision=_labels(deployment)[names.LABEL_REVISION],
        replicas=replicas,
        ready_replicas=ready,
        updated_replicas=int(status.get("updatedReplicas") or 0),
        current=int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0),
        intent_hash=(meta.get("annotations") or {}).get(ANNOTATION_INTENT_HASH),
        default_image=(meta.get("annotations") or {}).get(ANNOTATION_SERVING_IMAGE),
        progress_failure=failure,
        pod_problem=None if ready >= replicas else _pod_problem(pods),
        pod_ips=_ready_pod_ips(pods),
    )


def _ready_pod_ips(pods: list[Obj]) -> tuple[str, ...]:
    """IPs of the Ready, not terminating pods: the ones a Service sends to."""
    ips = []
    for pod in pods:
        ready = _condition(pod, "Ready")
        ip = pod.get("status", {}).get("podIP")
        deleting = pod.get("metadata", {}).get("deletionTimestamp")
        if ip and not deleting and ready is not None and ready.get("status") == "True":
            ips.append(ip)
    return tuple(sorted(ips))
