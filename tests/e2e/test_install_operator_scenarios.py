"""The operator's e2e scenarios again, with the operator installed by the chart (in-cluster,
on its own ServiceAccount token) instead of a local process on the admin kubeconfig.

The scenarios are imported unchanged; only the `operator` fixture is switched, so every API
call they make the operator perform is authorised by the chart's RBAC or fails here. Killing
the operator is a forced pod deletion, the in-cluster SIGKILL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kube import Kubectl
from test_install_helm import InClusterOperator
from test_operator import (  # noqa: F401  (fixtures and scenarios, collected here too)
    crd,
    story,
    test_deleting_the_model_deployment_removes_what_it_owns,
    test_iris_example_trains_serves_and_reports_ready,
    test_refused_estimator_and_missing_column_have_clear_conditions_and_recover,
    test_unreachable_threshold_is_evaluated_false_with_scores_and_nothing_serves,
    test_worse_second_revision_is_rejected_and_stable_keeps_serving,
)
from test_operator_restart import (  # noqa: F401
    test_killed_while_training_and_while_deploying_converges_without_duplicates,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def operator(
    crd: None, k8s_bin: Path, kubectl: Kubectl, namespace: str  # noqa: F811
) -> Iterator[InClusterOperator]:
    in_cluster = InClusterOperator(k8s_bin, kubectl, namespace)
    in_cluster.start()
    yield in_cluster
    print(f"--- operator log ---\n{in_cluster.log()[-6000:]}")
    in_cluster.stop()
