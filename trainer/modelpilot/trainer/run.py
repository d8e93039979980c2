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

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from modelpilot.api import names
from modelpilot.api.bundle import (
    Binding,
    BundleError,
    BundleExists,
    BundleMetadata,
    EvaluationRecord,
    FeatureSchema,
    PretrainedRecord,
    running_versions,
    write_bundle,
)
from modelpilot.api.metrics import Task, metrics_for
from modelpilot.api.summary import TrainingSummary
from modelpilot.trainer.champion import check_stable, score_stable, stable_if_scored, verdict
from modelpilot.trainer.datasets import LoadedData, load_dataset
from modelpilot.trainer.errors import SpecError, TrainingError
from modelpilot.trainer.estimators import build_estimator, effective_params
from modelpilot.trainer.evaluation import evaluate
from modelpilot.trainer.feedback_rows import append_feedback, read_feedback
from modelpilot.trainer.fitting import Fitted, assemble, check_sample_weight, fit
from modelpilot.trainer.jobspec import JobSpec, read_spec
from modelpilot.trainer.missing import accepts_missing
from modelpilot.trainer.preprocessing import build_preprocessor, check_transformers
from modelpilot.trainer.pretrained import PretrainedModel, feature_columns, load_pretrained
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
    pretrained: str | None = None  # the model trained elsewhere (spec.training.pretrained)


@dataclass(frozen=True)
class ChosenModel:
    task: Task
    import_path: str  # the (final) estimator's class
    estimator: Any  # unfitted (trained here) or fitted (pretrained)
    described: str  # how messages name it
    pretrained: PretrainedModel | None = None


def choose_model(job: JobSpec, settings: Settings) -> ChosenModel:
    """The spec's estimator, built; or the pretrained model, read, verified against the
    spec's digest and only then unpickled. Before any data is read, so a refusal is quick;
    a gate metric the task does not have is refused here too."""
    training, evaluation = job.training, job.evaluation
    if training.pretrained is not None:
        pretrained = load_pretrained(training.pretrained, allowlist=settings.allowlist)
        chosen = ChosenModel(
            task=pretrained.task,
            import_path=pretrained.import_path,
            estimator=pretrained.model,
            described=f"the pretrained {pretrained.import_path}",
            pretrained=pretrained,
        )
    else:
        assert training.estimator is not None  # the spec has exactly one of the two
        built = build_estimator(
            training.estimator,
            training.params,
            allowlist=settings.allowlist,
            random_state=training.random_state,
        )
        chosen = ChosenModel(
            task=built.task,
            import_path=built.import_path,
            estimator=built.estimator,
            described=training.estimator,
        )
    task_metrics = metrics_for(chosen.task)
    if evaluation.metric not in task_metrics:
        raise SpecError(
            f"evaluation.metric {evaluation.metric!r} is not a {chosen.task} metric; "
            f"{chosen.described} is scored with: {', '.join(task_metrics)}"
        )
    if evaluation.metric == "log_loss" and not hasattr(chosen.estimator, "predict_proba"):
        raise SpecError(
            f"evaluation.metric log_loss needs predict_proba, which {chosen.described} "
            "does not have with these params"
        )
    return chosen


def load_job_spec(settings: Settings) -> JobSpec:
    return read_spec(path=settings.spec_path, text=settings.spec_json)


def train(settings: Settings, job: JobSpec) -> Outcome:
    discarded = discard_untrusted(settings.output, owner_uid=settings.owner_uid)
    training, evaluation = job.training, job.evaluation

    chosen = choose_model(job, settings)
    pretrained, task, estimator = chosen.pretrained, chosen.task, chosen.estimator
    described = chosen.described
    check_transformers(training.preprocessing, settings.allowlist)
    if pretrained is None:
        check_sample_weight(estimator, training.sample_weight)
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
    check_target(data, task)
    if pretrained is not None:
        data = pretrained_data(data, pretrained)
    parts = fair_split(
        data,
        task=task,
        test_size=training.test_size,
        random_state=training.random_state,
        watched=training.dataset.watch is not None,
        stable=stable_metadata,
    )

    if pretrained is not None:
        # Trained elsewhere: never refitted here; the training split only serves the drift
        # reference and the missing-value probe, the holdout the gate.
        fitted = Fitted(model=pretrained.model, seconds=None, warnings=())
    else:
        preprocessor = build_preprocessor(training.preprocessing, data.features, settings.allowlist)
        fitted = fit(
            assemble(preprocessor, estimator),
            parts.x_train,
            parts.y_train,
            sample_weight=parts.w_train,
        )
    scores = evaluate(
        fitted.model,
        parts.x_holdout,
        parts.y_holdout,
        task=task,
        sample_weight=parts.w_holdout,
    )
    if evaluation.metric not in scores.metrics:
        raise SpecError(
            f"{described} gives no finite {evaluation.metric} on this holdout "
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
                task=task,
                binding=stable_binding(settings),
            ),
        )
    gate = verdict(evaluation, scores, stable)
    note = stable.note if stable is not None else stable_skipped

    versions = running_versions()
    classes = None
    if task is Task.CLASSIFICATION:
        classes = np.asarray(fitted.model.classes_).tolist()
    metadata = BundleMetadata(
        name=settings.name,
        namespace=settings.namespace,
        revision=settings.revision,
        created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        task=str(task),
        estimator=chosen.import_path,
        params=effective_params(estimator if pretrained is None else pretrained.final),
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
            training_rows=0 if pretrained is not None else len(parts.y_train),
            holdout_rows=len(parts.y_holdout),
            fit_seconds=None if fitted.seconds is None else round(fitted.seconds, 3),
        ),
        pretrained=None
        if pretrained is None
        else PretrainedRecord(
            uri=pretrained.source,
            sha256=pretrained.sha256,
            form=pretrained.form,
            recorded_sklearn=pretrained.recorded_sklearn,
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
        pretrained=None
        if pretrained is None
        else (
            f"{pretrained.source} ({pretrained.form}): sha256 {pretrained.sha256} matched the "
            "spec before it was unpickled; evaluated, not refitted"
        ),
    )


def pretrained_data(data: LoadedData, pretrained: PretrainedModel) -> LoadedData:
    """The dataset's columns the pretrained model was fitted on, in its order (its
    fingerprint stays the dataset's: the data watch compares the data, not the model)."""
    available = [str(c) for c in data.features.columns]
    wanted = feature_columns(pretrained.model, available, pretrained.source)
    if wanted is None or wanted == available:
        return data
    dropped = [c for c in available if c not in wanted]
    notes = data.warnings
    if dropped:
        notes += (f"columns the pretrained model does not take, ignored: {', '.join(dropped)}",)
    return dataclasses.replace(data, features=data.features[wanted], warnings=notes)


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
