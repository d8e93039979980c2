"""spec.training.dataset.watch: a new revision when the dataset's content changes.

The operator never mounts or reads tenant data: every interval it starts a short probe Job
from the trainer image (`modelpilot train --fingerprint-only`, the store mounted read-only)
that reports the dataset's fingerprint through its termination message, computed exactly as
training records `training_data_sha256` — after cheap signals (size, mtime, ETag) that, when
unchanged since the previous probe, let it skip the hashing. A fingerprint that differs from
the one the newest trained revision used starts a revision with trigger DataChanged (once per
fingerprint, so a dataset that keeps failing to train is not retried every interval). Probes
run only while a stable model serves and nothing is in flight or pinned.
"""

from __future__ import annotations

import json
from datetime import timedelta

from modelpilot.api.reasons import EventReason
from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import CandidateState, DataWatchStatus, ModelDeploymentStatus
from modelpilot.operator.rollout.actions import CreateTrainingJob, DeleteJob
from modelpilot.operator.rollout.draft import Draft
from modelpilot.operator.rollout.serving_objects import dataset_claim_name, has_store, store_claim
from modelpilot.operator.rollout.triggers import training_document
from modelpilot.operator.rollout.world import ObservedProbe

PROBE_DEADLINE_SECONDS = 600


def trained_fingerprint(status: ModelDeploymentStatus) -> str | None:
    """What the newest revision that finished training was trained on."""
    candidate = status.candidate
    if (
        candidate is not None
        and candidate.training_data_sha256 is not None
        and candidate.state is not CandidateState.SUPERSEDED
    ):
        return candidate.training_data_sha256
    return None if status.stable is None else status.stable.training_data_sha256


def watch_data(draft: Draft, spec: ModelDeploymentSpec, *, may_probe: bool) -> bool:
    """Start, read and clean up probe Jobs; True when the data changed (start DataChanged)."""
    watch, world = spec.training.dataset.watch, draft.world
    before = draft.status.data_watch
    if watch is None:
        for name in sorted(world.probes):
            draft.actions.append(DeleteJob(name, reason="spec.training.dataset.watch is off"))
        if before is not None:
            draft.update(data_watch=None)
        return False
    state = (before or DataWatchStatus()).model_copy(
        update={"trained_sha256": trained_fingerprint(draft.status)}
    )
    for name in sorted(world.probes):
        probe = world.probes[name]
        if name != state.probe_job or probe.finished:  # its report is read below, this tick
            draft.actions.append(DeleteJob(name, reason="data probe done"))
    changed = False
    current = world.probes.get(state.probe_job) if state.probe_job else None
    if current is not None and current.finished:
        state, changed = _read_probe(draft, state, current)
    elif state.probe_job is not None and current is None and not world.probes:
        state = state.model_copy(update={"probe_job": None})  # deleted by someone: start over
    if state.probe_job is None and may_probe and _due(state, watch.interval_seconds, draft):
        state = _start_probe(draft, spec, state)
    if state != before:
        draft.update(data_watch=state)
    return changed


def _read_probe(
    draft: Draft, state: DataWatchStatus, probe: ObservedProbe
) -> tuple[DataWatchStatus, bool]:
    """A finished probe's report: the new state, and whether the data changed."""
    report = probe.report
    if report is None or not report.ok or not report.fingerprint:
        why = (report.error if report is not None else None) or probe.problem or "no report"
        draft.event("Warning", EventReason.DATA_PROBE_FAILED, f"{probe.name}: {why}")
        failed = {
            "last_probe_at": draft.now,
            "probe_job": None,
            "message": f"data probe failed: {why}",
        }
        return state.model_copy(update=failed), False
    state = state.model_copy(
        update={
            "observed_sha256": report.fingerprint,
            "signals": report.signals,
            "hashed": report.hashed,
            "last_probe_at": draft.now,
            "probe_job": None,
        }
    )
    trained = state.trained_sha256
    changed = False
    if trained is None or report.fingerprint == trained:
        how = "hashed" if report.hashed else "size/mtime/ETag unchanged"
        message = f"the dataset is unchanged ({how})"
    elif report.fingerprint != state.triggered_sha256:
        changed = True
        state = state.model_copy(update={"triggered_sha256": report.fingerprint})
        message = (
            f"the dataset changed: fingerprint {report.fingerprint[:12]}, trained on {trained[:12]}"
        )
        draft.event("Normal", EventReason.DATA_CHANGED, message)
    else:
        message = (
            f"the dataset still differs ({report.fingerprint[:12]}) from what the newest "
            "revision was trained on; its revision already ran"
        )
    return state.model_copy(update={"message": message}), changed


def _start_probe(
    draft: Draft, spec: ModelDeploymentSpec, state: DataWatchStatus
) -> DataWatchStatus:
    """A probe Job where the data lives, handed the previous report's cheap signals."""
    world = draft.world
    if not has_store(spec, world):
        return state
    number = state.probes + 1
    name = f"{world.name}-data-{number}"
    previous = None
    if state.observed_sha256 and state.signals:
        previous = json.dumps(
            {"ok": True, "fingerprint": state.observed_sha256, "signals": state.signals}
        )
    draft.actions.append(
        CreateTrainingJob(
            name=name,
            model=world.name,
            revision="probe",
            spec_json=json.dumps(training_document(spec), sort_keys=True),
            store_claim=store_claim(spec, world),
            active_deadline_seconds=PROBE_DEADLINE_SECONDS,
            backoff_limit=0,
            image=spec.training.image,
            fingerprint_only=True,
            previous_report=previous,
            dataset_uri=spec.training.dataset.uri,
            dataset_claim=dataset_claim_name(spec),
            store_s3=spec.store_s3,
            dataset_s3=spec.dataset_s3,
            pod=spec.training.pod,
        )
    )
    return state.model_copy(update={"probe_job": name, "probes": number})


def seconds_until_probe(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus, draft: Draft
) -> float | None:
    watch, state = spec.training.dataset.watch, status.data_watch
    if watch is None or status.stable is None or status.phase.in_flight:
        return None
    if state is None or state.last_probe_at is None:
        return 0.0
    due = state.last_probe_at + timedelta(seconds=watch.interval_seconds)
    return max(0.0, (due - draft.now).total_seconds())


def _due(state: DataWatchStatus, interval: float, draft: Draft) -> bool:
    last = state.last_probe_at
    return last is None or (draft.now - last).total_seconds() >= interval
