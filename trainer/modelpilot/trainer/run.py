"""One training run, start to finish: the steps in order, the bundle written, the outcome.

Order matters for the people waiting on it: everything that needs only the spec (estimator,
params, allowlist, gate metric, transformers) and the stable model's digest is checked before
the data is read, and everything that needs only the data before the (possibly hour-long)
fit. Nothing is written until the end, and then atomically (`write_bundle`).

A training pod may be retried after it wrote its bundle (killed before exiting, node lost),
and anyone who can write to the store can lay a bundle at a revision's place. Neither is
adopted: nothing found in the output directory is trusted (`untrusted.py`), it is removed
unread and this run trains and writes its own bundle, whose digest it reports. The operator
records that digest, and every reader verifies against it before unpickling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from modelpilot.api import names
from modelpilot.api.bundle import (
    Binding,
    BundleError,
    BundleExists,
    BundleMetadata,
    EvaluationRecord,
    FeatureSchema,
    running_versions,
    write_bundle,
)
from modelpilot.api.metrics import Task, metrics_for
from modelpilot.api.summary import TrainingSummary
from modelpilot.trainer.champion import check_stable, score_stable, stable_if_scored, verdict
from modelpilot.trainer.datasets import load_dataset
from modelpilot.trainer.errors import SpecError, TrainingError
from modelpilot.trainer.estimators import build_estimator, effective_params
from modelpilot.trainer.evaluation import evaluate
from modelpilot.trainer.feedback_rows import append_feedback, read_feedback
from modelpilot.trainer.fitting import assemble, check_sample_weight, fit
from modelpilot.trainer.jobspec import JobSpec, read_spec
from modelpilot.trainer.missing import accepts_missing
from modelpilot.trainer.preprocessing import build_preprocessor, check_transformers
from modelpilot.trainer.reference import reference_of
from modelpilot.trainer.settings import Settings
from modelpilot.trainer.splitting import check_target, fair_split
from modelpilot.trainer.untrusted import discard_untrusted


@dataclass(frozen=True)
class Outcome:
    summary: TrainingSummary
    output: Path
    # what lay in the output directory before this run and was removed unread
    discarded: tuple[str, ...] = ()
    source: str | None = None
    training_rows: int | None = None
    features: tuple[str, ...] = ()
    stable_revision: str | None = None
    stable_metrics: dict[str, float] | None = None
    notes: tuple[str, ...] = field(default=())  # warnings and remarks for people


def load_job_spec(settings: Settings) -> JobSpec:
    return read_spec(path=settings.spec_path, text=settings.spec_json)


def train(settings: Settings, job: JobSpec) -> Outcome:
    discarded = discard_untrusted(settings.output, owner_uid=settings.owner_uid)
    training, evaluation = job.training, job.evaluation

    built = build_estimator(
        training.estimator,
        training.params,
        allowlist=settings.allowlist,
        random_state=training.random_state,
    )
    task_metrics = metrics_for(built.task)
    if evaluation.metric not in task_metrics:
        raise SpecError(
            f"evaluation.metric {evaluation.metric!r} is not a {built.task} metric; "
            f"{training.estimator} is scored with: {', '.join(task_metrics)}"
        )
    if evaluation.metric == "log_loss" and not hasattr(built.estimator, "predict_proba"):
        raise SpecError(
            f"evaluation.metric log_loss needs predict_proba, which {training.estimator} "
            "does not have with these params"
        )
    check_transformers(training.preprocessing, settings.allowlist)
    check_sample_weight(built.estimator, training.sample_weight)
    stable_metadata = None
    if settings.stable_dir is not None:
        assert settings.stable_sha256 is not None
        stable_metadata = check_stable(
            settings.stable_dir, settings.stable_sha256, stable_binding(settings)
        )

    data = load_dataset(training.dataset, weight=training.sample_weight)
    if training.dataset.includes_feedback:
        if settings.feedback_dir is None:
            raise SpecError(
                f"dataset.include [feedback] needs the prediction logs: --feedback-dir "
                f"({names.ENV_FEEDBACK_DIR})"
            )
        rows = read_feedback(
            settings.feedback_dir,
            features=list(data.features.columns),
            target=str(data.target.name),
        )
        data = append_feedback(data, rows)
    check_target(data, built.task)
    preprocessor = build_preprocessor(training.preprocessing, data.features, settings.allowlist)
    parts = fair_split(
        data,
        task=built.task,
        test_size=training.test_size,
        random_state=training.random_state,
        watched=training.dataset.watch is not None,
        stable=stable_metadata,
    )

    fitted = fit(
        assemble(preprocessor, built.estimator),
        parts.x_train,
        parts.y_train,
        sample_weight=parts.w_train,
    )
    scores = evaluate(
        fitted.model,
        parts.x_holdout,
        parts.y_holdout,
        task=built.task,
        sample_weight=parts.w_holdout,
    )
    if evaluation.metric not in scores.metrics:
        raise SpecError(
            f"{training.estimator} gives no finite {evaluation.metric} on this holdout "
            "(roc_auc on several classes needs predict_proba; r2 needs two or more rows); "
            f"computed: {', '.join(scores.metrics)}"
        )
    stable, stable_skipped = None, None
    if settings.stable_dir is not None:
        stable_dir, stable_sha256 = settings.stable_dir, settings.stable_sha256
        assert stable_sha256 is not None
        stable, stable_skipped = stable_if_scored(
            evaluation,
            lambda: score_stable(
                stable_dir,
                stable_sha256,
                parts,
                task=built.task,
                binding=stable_binding(settings),
            ),
        )
    gate = verdict(evaluation, scores, stable)
    note = stable.note if stable is not None else stable_skipped

    versions = running_versions()
    classes = None
    if built.task is Task.CLASSIFICATION:
        classes = np.asarray(fitted.model.classes_).tolist()
    metadata = BundleMetadata(
        name=settings.name,
        namespace=settings.namespace,
        revision=settings.revision,
        created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        task=str(built.task),
        estimator=built.import_path,
        params=effective_params(built.estimator),
        features=FeatureSchema(
            names=list(data.features.columns),
            dtypes=[str(t) for t in data.features.dtypes],
            accepts_missing=accepts_missing(fitted.model, parts.x_train),
        ),
        classes=classes,
        training_data_sha256=data.sha256,
        holdout_sha256=parts.holdout_sha256,
        metrics=scores.metrics,
        versions=versions,
        prediction_range=scores.prediction_range,
        drift_reference=reference_of(parts.x_train),
        owner_uid=settings.owner_uid,
        spec_hash=settings.spec_hash,
        evaluation=EvaluationRecord(
            metric=gate.metric,
            candidate_score=gate.candidate_score,
            stable_score=gate.stable_score,
            stable_revision=None if stable is None else stable.metadata.revision,
            stable_model_sha256=None if stable is None else stable.metadata.model_sha256,
            verdict=str(gate.verdict),
            message=f"{gate.message} ({note})" if note else gate.message,
            training_rows=len(parts.y_train),
            holdout_rows=len(parts.y_holdout),
            fit_seconds=round(fitted.seconds, 3),
        ),
    )
    try:
        written = write_bundle(fitted.model, metadata, settings.output)
    except BundleExists as exc:
        # Somebody wrote a bundle there while this run trained: it is not ours, so it is
        # not reported either (the Job's next attempt clears it and trains again).
        raise TrainingError(
            f"{exc}: a bundle appeared in {settings.output} while this run trained; it is not "
            "this run's and is never adopted"
        ) from exc
    except (BundleError, OSError) as exc:
        raise TrainingError(f"cannot write the bundle to {settings.output}: {exc}") from exc
    except Exception as exc:  # pickling errors have no common base
        raise TrainingError(
            f"cannot write the bundle to {settings.output}: {type(exc).__name__}: {exc}"
        ) from exc

    notes = (*data.warnings, *fitted.warnings, *scores.warnings)
    if stable is not None:
        notes += tuple(f"stable: {w}" for w in stable.scores.warnings)
    return Outcome(
        summary=summary_of(written),
        output=settings.output,
        source=data.source,
        training_rows=len(parts.y_train),
        features=tuple(data.features.columns),
        stable_revision=None if stable is None else stable.metadata.revision,
        stable_metrics=None if stable is None else stable.scores.metrics,
        notes=notes,
        discarded=tuple(discarded),
    )


def summary_of(metadata: BundleMetadata) -> TrainingSummary:
    record = metadata.evaluation
    assert record is not None
    return TrainingSummary(
        ok=True,
        revision=metadata.revision,
        model_sha256=metadata.model_sha256,
        task=metadata.task,
        metric=record.metric,
        candidate_score=record.candidate_score,
        stable_score=record.stable_score,
        verdict=record.verdict,
        message=record.message,
        holdout_sha256=metadata.holdout_sha256,
        training_data_sha256=metadata.training_data_sha256,
        holdout_rows=record.holdout_rows,
        metrics=dict(metadata.metrics),
        versions=metadata.versions.model_dump(),
        fit_seconds=record.fit_seconds,
    )


def stable_binding(settings: Settings) -> Binding:
    """Stable must belong to the same ModelDeployment (its spec may differ: it is older)."""
    return Binding(owner_uid=settings.owner_uid)


def failure_summary(revision: str, exit_code: int, error: str) -> TrainingSummary:
    return TrainingSummary(ok=False, revision=revision, exit_code=exit_code, error=error)
