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

from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.api.status import CandidateState, DataWatchStatus, ModelDeploymentStatus
from modelpilot.operator.rollout.actions import CreateTrainingJob, DeleteJob
from modelpilot.operator.rollout.draft import Draft
from modelpilot.operator.rollout.serving_objects import has_store, store_claim
from modelpilot.operator.rollout.triggers import training_document

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
        report = current.report
        if report is not None and report.ok and report.fingerprint:
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
            differs = trained is not None and report.fingerprint != trained
            if differs and report.fingerprint != state.triggered_sha256:
                changed = True
                state = state.model_copy(update={"triggered_sha256": report.fingerprint})
                message = (
                    f"the dataset changed: fingerprint {report.fingerprint[:12]}, trained on "
                    f"{state.trained_sha256[:12]}"  # type: ignore[index]
                )
                draft.event("Normal", "DataChanged", message)
            elif differs:
                message = (
                    f"the dataset still differs ({report.fingerprint[:12]}) from what the newest "
                    "revision was trained on; its revision already ran"
                )
            else:
                how = "hashed" if report.hashed else "size/mtime/ETag unchanged"
                message = f"the dataset is unchanged ({how})"
            state = state.model_copy(update={"message": message})
        else:
            why = (report.error if report is not None else None) or current.problem or "no report"
            state = state.model_copy(
                update={"last_probe_at": draft.now, "probe_job": None,
                        "message": f"data probe failed: {why}"}
            )
            draft.event("Warning", "DataProbeFailed", f"{current.name}: {why}")
    elif state.probe_job is not None and current is None and not world.probes:
        state = state.model_copy(update={"probe_job": None})  # deleted by someone: start over
    if state.probe_job is None and may_probe and _due(state, watch.interval_seconds, draft):
        claim = store_claim(spec, world)
        if has_store(spec, world):
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
                    store_claim=claim,
                    active_deadline_seconds=PROBE_DEADLINE_SECONDS,
                    backoff_limit=0,
                    image=spec.training.image,
                    fingerprint_only=True,
                    previous_report=previous,
                    dataset_uri=spec.training.dataset.uri,
                    store_s3=spec.store_s3,
                    dataset_s3=spec.dataset_s3,
                    pod=spec.training.pod,
                )
            )
            state = state.model_copy(update={"probe_job": name, "probes": number})
    if state != before:
        draft.update(data_watch=state)
    return changed


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
