"""The people-facing verbs, without a cluster: the status report and the verb table."""

from __future__ import annotations

from datetime import UTC, datetime

from api_samples import full_status

from modelpilot.api.status import dump_status
from modelpilot.cli import main as cli
from modelpilot.cli.status import render
from modelpilot.operator.settings import SettingsError, load_settings

NOW = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)


def test_status_report_reads_at_a_glance():
    body = {
        "metadata": {"name": "iris", "namespace": "ml", "generation": 3},
        "spec": {"evaluation": {"metric": "accuracy", "threshold": 0.9}},
        "status": dump_status(full_status()),
    }
    events = [
        {
            "type": "Normal",
            "reason": "Promoted",
            "message": "v1 serves",
            "lastTimestamp": "2026-01-01T12:00:00Z",
        }
    ]
    text = render(body, events, NOW)
    assert text.splitlines()[0] == "ml/iris  phase Canary  (generation 3, observed 3)"
    assert "gate: accuracy >= 0.9, must beat stable" in text
    assert "Stable     v1  accuracy 0.9000" in text
    assert "Candidate  v2  Canary  (SpecChanged)  accuracy 0.9500 vs stable 0.9000" in text
    assert "Canary     v2  step 2/4 pause 30s  paused  (started 12h ago)" in text
    assert "weight stable/canary 80/20  actual 75/25 (3+1 Ready pods)" in text
    assert "Analysis   1 failed, 2 inconclusive windows; last 12h ago" in text
    assert "12h ago  Passed       canary 1 req, stable 1 req, 5xx 0.00%, 4xx 0.00%" in text
    assert "p99 1.0 ms (stable 1.0), PSI 0.010, error-budget 0.002" in text
    assert "pre-rollout gate passed (http://hooks/pre: HTTP 200)" in text
    assert "header route testers: x-model-variant exact 'canary' -> v2" in text
    assert "  Ready        True    Serving" in text
    assert "30s  Normal   Promoted         v1 serves" in text
    assert "pinned" not in text
    body["spec"]["serving"] = {"pinRevision": "v1"}
    pinned = render(body, events, NOW)
    assert "  pinned: v1 (spec.serving.pinRevision); nothing trains until " in pinned


def test_verbs_are_registered():
    assert {"operator", "status", "retrain", "promote", "abort", "rollback"} <= set(cli.VERBS)


def test_rollback_refuses_a_revision_history_has_no_digest_for():
    from modelpilot.api.status import HistoryEntry, ModelDeploymentStatus
    from modelpilot.cli.rollback import refusal

    status = ModelDeploymentStatus(
        history=[
            HistoryEntry(revision="v3", outcome="Failed"),
            HistoryEntry(revision="v2", outcome="Promoted", model_sha256="b" * 64),
            HistoryEntry(revision="v1", outcome="Promoted", model_sha256="a" * 64),
        ]
    )
    assert refusal(status, "v1") is None
    assert refusal(status, "v3") == (
        "v3 is not in status.history with a model digest, so it cannot be served again "
        "without retraining (revisions you can roll back to: v2, v1)"
    )
    assert "not a revision name" in refusal(status, "latest")


def test_rollback_tells_gitops_users_to_commit_the_pin():
    from modelpilot.cli.rollback import gitops_note

    argo = {"annotations": {"argocd.argoproj.io/tracking-id": "ml:modelpilot.dev/x"}}
    assert gitops_note(argo, "v1") == (
        "This object is managed by Argo CD: commit spec.serving.pinRevision: v1 to Git too, "
        "or the next sync reverts it."
    )
    flux = {"labels": {"kustomize.toolkit.fluxcd.io/name": "apps"}}
    assert gitops_note(flux, None).startswith("This object is managed by Flux: commit the removal")
    assert gitops_note({}, "v2").startswith("If this object is synced from Git (Argo CD, Flux)")


def test_settings_come_from_the_environment():
    s = load_settings(
        {
            "MODELPILOT_WATCH_NAMESPACES": "a, b",
            "MODELPILOT_ESTIMATOR_ALLOWLIST": "sklearn.linear_model.*",
            "MODELPILOT_DEFAULT_STORE_PVC": "models",
        }
    )
    assert s.watch_namespaces == ("a", "b")
    assert s.estimator_allowlist == ("sklearn.linear_model.*",)
    assert s.default_store_claim == "models"
    assert load_settings({}).watch_namespaces == ()
    try:
        load_settings({"MODELPILOT_IMAGE_PULL_POLICY": "Sometimes"})
    except SettingsError as exc:
        assert "MODELPILOT_IMAGE_PULL_POLICY" in str(exc)
    else:
        raise AssertionError("accepted a bad pull policy")


def test_retrain_help_says_what_it_does_and_promises_no_new_seed(capsys):
    import pytest

    from modelpilot.cli import retrain

    with pytest.raises(SystemExit):
        retrain.main(["--help"])
    out = capsys.readouterr().out
    assert "new seed" not in out and "same spec" in out
    assert "randomState" in retrain.__doc__


def test_status_draws_drift_as_bars_against_the_threshold():
    from modelpilot.api.status import FeatureDrift, ModelDeploymentStatus, MonitoringStatus

    status = ModelDeploymentStatus(
        monitoring=MonitoringStatus(
            revision="v1",
            last_window_at=NOW,
            requests=400,
            drifted=True,
            worst=[
                FeatureDrift(feature="petal_length", psi=1.0),
                FeatureDrift(feature="sepal_width", psi=0.05),
            ],
        )
    )
    body = {
        "metadata": {"name": "iris", "namespace": "ml", "generation": 1},
        "spec": {"evaluation": {"metric": "accuracy"}, "monitoring": {"maxFeaturePsi": 0.25}},
        "status": dump_status(status),
    }
    lines = render(body, [], NOW).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Drift"))
    assert lines[start] == (
        "Drift      DRIFTED  (v1; 400 input rows in the window ending 0s ago; maxFeaturePsi 0.25)"
    )
    assert lines[start + 1] == "  petal_length  " + "#" * 30 + "  1.000  drifted"
    assert lines[start + 2] == "  sepal_width   " + "##" + " " * 6 + "|" + " " * 22 + " 0.050"


def test_status_shows_the_live_metric_from_fed_back_labels():
    from modelpilot.api.status import ModelDeploymentStatus, MonitoringStatus, PerformanceStatus

    performance = PerformanceStatus(
        revision="v1", metric="accuracy", value=0.42, count=60, threshold=0.8, degraded=True
    )
    status = ModelDeploymentStatus(
        monitoring=MonitoringStatus(revision="v1", last_window_at=NOW, performance=performance)
    )
    body = {
        "metadata": {"name": "iris", "namespace": "ml", "generation": 1},
        "spec": {"evaluation": {"metric": "accuracy"}, "monitoring": {}},
        "status": dump_status(status),
    }
    lines = render(body, [], NOW).splitlines()
    assert (
        "Live       DEGRADED  (v1; accuracy 0.4200 over 60 labelled rows; threshold 0.8)" in lines
    )


def test_status_shows_both_data_fingerprints():
    from modelpilot.api.status import DataWatchStatus, ModelDeploymentStatus

    status = ModelDeploymentStatus(
        data_watch=DataWatchStatus(
            observed_sha256="2" * 64,
            trained_sha256="1" * 64,
            last_probe_at=NOW,
            message="the dataset changed",
        )
    )
    body = {
        "metadata": {"name": "iris", "namespace": "ml", "generation": 1},
        "spec": {"evaluation": {"metric": "accuracy"}},
        "status": dump_status(status),
    }
    text = render(body, [], NOW)
    assert (
        "Data       fingerprint 222222222222 now, 111111111111 trained on; last probe 0s ago"
        in text
    )
    assert "           the dataset changed" in text
