"""The operator's /metrics exposition: names, bounded labels, series that follow the objects."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelpilot.api.status import (
    AnalysisStatus,
    AnalysisWindow,
    CanaryStatus,
    CandidateState,
    CandidateStatus,
    FeatureDrift,
    ModelDeploymentStatus,
    MonitoringStatus,
    PerformanceStatus,
    Phase,
    StableStatus,
    Trigger,
)
from modelpilot.operator.cluster import _kind_of
from modelpilot.operator.endpoint import Address
from modelpilot.operator.reconcile import TickResult
from modelpilot.operator.telemetry import ModelDeploymentFacts, OperatorMetrics
from modelpilot.operator.workqueue import WorkQueue

T0 = datetime(2026, 1, 1, tzinfo=UTC)
facts_of = ModelDeploymentFacts.from_status


def samples(metrics: OperatorMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def canary_status() -> ModelDeploymentStatus:
    return ModelDeploymentStatus(
        phase=Phase.CANARY,
        stable=StableStatus(revision="v1", model_sha256="a", deployment="iris-v1", service="iris"),
        candidate=CandidateStatus(
            revision="v2",
            state=CandidateState.CANARY,
            trigger=Trigger.SPEC_CHANGED,
            spec_hash="h",
            job="iris-train-v2",
            started_at=T0,
            metric="accuracy",
            candidate_score=0.97,
        ),
        canary=CanaryStatus(revision="v2", weight=20),
    )


def test_per_model_deployment_series_say_phase_stable_weight_and_gate_score() -> None:
    metrics = OperatorMetrics()
    metrics.model_deployments.record("ml", "iris", facts_of(canary_status()))
    got = samples(metrics)
    key = (("modeldeployment", "iris"), ("namespace", "ml"))
    assert got[("modelpilot_modeldeployment_status_phase", (*key, ("phase", "Canary")))] == 1
    assert got[("modelpilot_modeldeployment_status_phase", (*key, ("phase", "Serving")))] == 0
    assert got[("modelpilot_modeldeployment_stable_revision_info", (*key, ("revision", "v1")))] == 1
    assert got[("modelpilot_modeldeployment_canary_weight_ratio", key)] == 0.2
    score_key = (("metric", "accuracy"), *key, ("revision", "v2"))
    assert got[("modelpilot_modeldeployment_gate_score", score_key)] == 0.97
    assert got[("modelpilot_modeldeployments", (("phase", "Canary"),))] == 1
    assert got[("modelpilot_modeldeployments", (("phase", "Serving"),))] == 0


def test_a_forgotten_model_deployment_leaves_no_series_but_the_phase_counts() -> None:
    metrics = OperatorMetrics()
    metrics.model_deployments.record("ml", "iris", facts_of(canary_status()))
    metrics.model_deployments.forget("ml", "iris")
    got = samples(metrics)
    assert not [k for k in got if ("modeldeployment", "iris") in k[1]]
    assert got[("modelpilot_modeldeployments", (("phase", "Canary"),))] == 0


def with_windows(*verdicts: str) -> ModelDeploymentStatus:
    """The canary status with one window per verdict, a minute apart, newest first."""
    windows = [
        AnalysisWindow(started_at=T0 + timedelta(minutes=i), verdict=v)  # type: ignore[arg-type]
        for i, v in enumerate(verdicts)
    ]
    status = canary_status()
    assert status.canary is not None
    canary = status.canary.model_copy(update={"analysis": AnalysisStatus(windows=windows[::-1])})
    return status.model_copy(update={"canary": canary})


def windows_counted(metrics: OperatorMetrics) -> dict[str, float]:
    got = samples(metrics)
    key = (("modeldeployment", "iris"), ("namespace", "ml"))
    return {
        verdict: got[("modelpilot_analysis_windows_total", (*key, ("verdict", verdict)))]
        for verdict in ("Passed", "Failed", "Inconclusive")
    }


def test_analysis_windows_are_counted_once_each_by_verdict() -> None:
    metrics = OperatorMetrics()
    record = metrics.model_deployments.record
    record("ml", "iris", facts_of(canary_status()))
    record("ml", "iris", facts_of(with_windows("Passed")))
    record("ml", "iris", facts_of(with_windows("Passed")))  # a tick with no new window
    record("ml", "iris", facts_of(with_windows("Passed", "Inconclusive", "Failed")))
    assert windows_counted(metrics) == {"Passed": 1, "Failed": 1, "Inconclusive": 1}


def test_a_restarted_operator_does_not_count_the_windows_already_in_status() -> None:
    metrics = OperatorMetrics()
    metrics.model_deployments.record("ml", "iris", facts_of(with_windows("Passed", "Passed")))
    assert windows_counted(metrics) == {"Passed": 0, "Failed": 0, "Inconclusive": 0}
    metrics.model_deployments.record(
        "ml", "iris", facts_of(with_windows("Passed", "Passed", "Failed"))
    )
    assert windows_counted(metrics) == {"Passed": 0, "Failed": 1, "Inconclusive": 0}


def test_the_next_canary_counts_its_windows_from_its_first() -> None:
    metrics = OperatorMetrics()
    record = metrics.model_deployments.record
    record("ml", "iris", facts_of(with_windows("Passed")))
    serving = ModelDeploymentStatus(phase=Phase.SERVING)
    record("ml", "iris", facts_of(serving))
    record("ml", "iris", facts_of(with_windows("Failed")))
    assert windows_counted(metrics)["Failed"] == 1


def test_feature_psi_and_its_threshold_follow_the_monitoring_window() -> None:
    status = ModelDeploymentStatus(
        phase=Phase.SERVING,
        monitoring=MonitoringStatus(
            revision="v1",
            worst=[
                FeatureDrift(feature="petal_length", psi=0.4),
                FeatureDrift(feature="sepal_width", psi=0.02),
            ],
        ),
    )
    metrics = OperatorMetrics()
    metrics.model_deployments.record("ml", "iris", facts_of(status, psi_threshold=0.25))
    got = samples(metrics)
    key = (("modeldeployment", "iris"), ("namespace", "ml"))
    psi = "modelpilot_modeldeployment_feature_psi"
    assert got[(psi, (("feature", "petal_length"), *key))] == 0.4
    assert got[(psi, (("feature", "sepal_width"), *key))] == 0.02
    assert got[("modelpilot_modeldeployment_feature_psi_threshold", key)] == 0.25


def test_the_live_metric_from_fed_back_labels_is_exported_per_revision() -> None:
    status = ModelDeploymentStatus(
        phase=Phase.SERVING,
        monitoring=MonitoringStatus(
            performance=PerformanceStatus(revision="v3", metric="f1_macro", value=0.61, count=80)
        ),
    )
    metrics = OperatorMetrics()
    metrics.model_deployments.record("ml", "iris", facts_of(status))
    got = samples(metrics)
    key = (("modeldeployment", "iris"), ("namespace", "ml"))
    live = (("metric", "f1_macro"), key[0], key[1], ("revision", "v3"))
    assert got[("modelpilot_modeldeployment_live_metric", live)] == 0.61
    assert got[("modelpilot_modeldeployment_live_metric_labels", key)] == 80


def training(
    revision: str, state: CandidateState = CandidateState.TRAINING
) -> ModelDeploymentStatus:
    phase = Phase.TRAINING if state is CandidateState.TRAINING else Phase.SERVING
    return ModelDeploymentStatus(
        phase=phase,
        candidate=CandidateStatus(
            revision=revision,
            state=state,
            trigger=Trigger.CREATED,
            spec_hash="h",
            job=f"iris-train-{revision}",
            started_at=T0,
        ),
    )


def training_durations(metrics: OperatorMetrics) -> dict[str, tuple[float, float]]:
    """outcome -> (count, sum) of modelpilot_training_duration_seconds for ml/iris."""
    got = samples(metrics)
    key = (("modeldeployment", "iris"), ("namespace", "ml"))
    out = {}
    for outcome in ("succeeded", "failed", "superseded"):
        labels = (*key, ("outcome", outcome))
        count = got.get(("modelpilot_training_duration_seconds_count", labels))
        if count is not None:
            out[outcome] = (count, got[("modelpilot_training_duration_seconds_sum", labels)])
    return out


def test_training_duration_runs_from_the_job_starting_to_its_end_by_outcome() -> None:
    metrics = OperatorMetrics()
    record = metrics.model_deployments.record
    record("ml", "iris", facts_of(training("v1"), queued=True), now=0.0)  # waits for a slot
    record("ml", "iris", facts_of(training("v1")), now=10.0)  # its Job starts
    record("ml", "iris", facts_of(training("v1")), now=40.0)
    record("ml", "iris", facts_of(training("v1", CandidateState.DEPLOYING)), now=70.0)
    record("ml", "iris", facts_of(training("v2")), now=100.0)
    record("ml", "iris", facts_of(training("v2", CandidateState.FAILED)), now=105.0)
    record("ml", "iris", facts_of(training("v3")), now=200.0)
    record("ml", "iris", facts_of(training("v4")), now=260.0)  # v3 superseded while training
    assert training_durations(metrics) == {
        "succeeded": (1, 60.0),
        "failed": (1, 5.0),
        "superseded": (1, 60.0),
    }
    metrics.model_deployments.forget("ml", "iris")
    assert training_durations(metrics) == {}


def test_trainings_count_running_and_queued() -> None:
    metrics = OperatorMetrics()
    training = ModelDeploymentStatus(
        phase=Phase.TRAINING,
        candidate=CandidateStatus(
            revision="v1",
            state=CandidateState.TRAINING,
            trigger=Trigger.CREATED,
            spec_hash="h",
            job="a-train-v1",
            started_at=T0,
        ),
    )
    metrics.model_deployments.record("a", "m", ModelDeploymentFacts.from_status(training))
    metrics.model_deployments.record("b", "m", ModelDeploymentFacts.from_status(training))
    metrics.model_deployments.record(
        "c", "m", ModelDeploymentFacts.from_status(training, queued=True)
    )
    got = samples(metrics)
    assert got[("modelpilot_trainings", (("state", "running"),))] == 2
    assert got[("modelpilot_trainings", (("state", "queued"),))] == 1


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/apis/batch/v1/namespaces/ml/jobs/iris-train-v1", ("get", "Job")),
        ("GET", "/api/v1/namespaces/ml/pods?labelSelector=a%3Db", ("list", "Pod")),
        (
            "PUT",
            "/apis/modelpilot.dev/v1alpha1/namespaces/ml/modeldeployments/i/status",
            ("update", "ModelDeployment"),
        ),
        ("POST", "/api/v1/namespaces/jobs/events", ("create", "Event")),
        ("PATCH", "/apis/apps/v1/namespaces/ml/deployments/iris-v1", ("patch", "Deployment")),
        ("GET", "/version", ("list", "other")),
    ],
    ids=[
        "get-names-one",
        "list-has-no-name",
        "status-is-the-objects",
        "namespace-named-like-a-kind",
        "patch",
        "unknown-path-is-other",
    ],
)
def test_api_requests_are_counted_by_verb_kind_and_code(
    method: str, path: str, expected: tuple[str, str]
) -> None:
    metrics = OperatorMetrics()
    kind, named = _kind_of(path)
    metrics.observe_request(method, kind=kind, named=named, code=200)
    verb, want_kind = expected
    got = samples(metrics)
    assert (
        got[
            (
                "modelpilot_api_requests_total",
                (("code", "200"), ("kind", want_kind), ("verb", verb)),
            )
        ]
        == 1
    )


def test_reconcile_outcomes_all_start_at_zero_and_count_with_durations() -> None:
    metrics = OperatorMetrics()
    before = samples(metrics)
    assert before[("modelpilot_reconcile_duration_seconds_count", (("outcome", "crash"),))] == 0
    metrics.observe_tick("success", 0.02)
    metrics.observe_tick("conflict", 0.3)
    got = samples(metrics)
    assert got[("modelpilot_reconcile_total", (("outcome", "success"),))] == 1
    assert got[("modelpilot_reconcile_total", (("outcome", "crash"),))] == 0
    assert got[("modelpilot_reconcile_duration_seconds_count", (("outcome", "conflict"),))] == 1
    assert (
        got[
            (
                "modelpilot_reconcile_duration_seconds_bucket",
                (("le", "0.025"), ("outcome", "success")),
            )
        ]
        == 1
    )


def test_the_work_queue_reports_depth_oldest_age_and_tick_outcomes() -> None:
    metrics = OperatorMetrics()
    started = asyncio.Event()

    async def scenario() -> dict:
        release = asyncio.Event()
        loop = asyncio.get_running_loop()

        def slow_tick(key: tuple[str, str]) -> TickResult:
            loop.call_soon_threadsafe(started.set)
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=5)
            return TickResult(gone=True)

        ticked = asyncio.Event()

        def observe(outcome: str, seconds: float) -> None:
            metrics.observe_tick(outcome, seconds)
            ticked.set()  # the queue's loop task returns right after, with no await between

        queue = WorkQueue(slow_tick, resync_seconds=60, observe=observe)
        metrics.watch_queue(depth=queue.depth, oldest_age=queue.oldest_age)
        queue.nudge(("ml", "a"))
        before = samples(metrics)  # nudged, no worker has picked it up yet
        await started.wait()
        during = samples(metrics)
        release.set()
        await ticked.wait()
        await queue.stop()
        return {"before": before, "during": during, "after": samples(metrics)}

    got = asyncio.run(scenario())
    assert got["before"][("modelpilot_workqueue_depth", ())] == 1
    assert got["before"][("modelpilot_workqueue_oldest_item_age_seconds", ())] >= 0
    assert got["during"][("modelpilot_workqueue_depth", ())] == 0
    assert got["during"][("modelpilot_workqueue_oldest_item_age_seconds", ())] == 0
    assert got["after"][("modelpilot_reconcile_total", (("outcome", "success"),))] == 1


def test_the_endpoint_address_comes_from_the_liveness_url() -> None:
    assert Address.parse("http://0.0.0.0:8080/healthz") == Address("0.0.0.0", 8080)
    with pytest.raises(ValueError, match="expected http://HOST:PORT"):
        Address.parse("0.0.0.0:8080")


@pytest.mark.parametrize(
    ("quantity", "millis"),
    [("2", 2000), ("1500m", 1500), ("0.5", 500), ("1k", 1_000_000), ("", 0), ("lots", 0)],
    ids=[
        "cores",
        "millicores",
        "fraction",
        "kilo-as-the-apiserver-writes-1000",
        "empty",
        "garbage-counts-zero",
    ],
)
def test_node_cpu_quantities_size_the_training_cap(quantity: str, millis: int) -> None:
    from modelpilot.operator.cluster import _cpu_millis

    assert _cpu_millis(quantity) == millis


class _SilentApiServer:
    """The kubernetes ApiClient's two calls, answering nothing in time."""

    def param_serialize(self, *args: object, **kwargs: object) -> tuple:
        return ()

    def call_api(self, *args: object, **kwargs: object) -> None:
        from urllib3.exceptions import ReadTimeoutError

        raise ReadTimeoutError(None, "/apis", "read timed out")


def test_an_api_server_that_does_not_answer_is_a_retryable_api_error_counted_as_code_0():
    from modelpilot.operator.cluster import KubernetesCluster
    from modelpilot.operator.errors import ApiError

    metrics = OperatorMetrics()

    def count(method: str, kind: str, named: bool, code: int) -> None:
        metrics.observe_request(method, kind=kind, named=named, code=code)

    cluster = KubernetesCluster(_SilentApiServer(), observe=count)
    with pytest.raises(ApiError, match="no answer"):
        cluster.get("Job", "ml", "iris-train-v1")
    got = samples(metrics)
    labels = (("code", "0"), ("kind", "Job"), ("verb", "get"))
    assert got[("modelpilot_api_requests_total", labels)] == 1


def test_build_info_carries_the_running_version_and_the_cli_reads_it_back() -> None:
    from importlib.metadata import version

    from modelpilot.cli.version import version_from_metrics

    metrics = OperatorMetrics()
    assert samples(metrics)[("modelpilot_build_info", (("version", version("modelpilot")),))] == 1
    assert version_from_metrics(metrics.render().decode()) == version("modelpilot")
