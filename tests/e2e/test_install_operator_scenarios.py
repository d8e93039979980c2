"""The operator's and the canary's e2e scenarios again, with the operator installed by the
chart (in-cluster, on its own ServiceAccount token) instead of a local process on the admin
kubeconfig.

Every scenario in tests/e2e/test_operator*.py and test_canary*.py that takes the `operator`
fixture is collected here too, unchanged; only that fixture is switched, so every API call a
scenario makes the operator perform is authorised by the chart's RBAC or fails here. Killing
the operator is a forced pod deletion, the in-cluster SIGKILL. New scenarios join by
themselves.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube import Kubectl
from test_install_helm import InClusterOperator

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
SWITCHED = "operator"


def _is_fixture(obj: Any) -> bool:
    return type(obj).__name__ == "FixtureFunctionDefinition" or hasattr(
        obj, "_pytestfixturefunction"
    )


def _scenarios_and_their_fixtures() -> dict[str, Any]:
    found: dict[str, Any] = {}
    paths = sorted(HERE.glob("test_operator*.py")) + sorted(HERE.glob("test_canary*.py"))
    for path in paths:
        module = importlib.import_module(path.stem)
        tests = {
            name: obj for name, obj in vars(module).items()
            if name.startswith("test_") and inspect.isfunction(obj)
            and SWITCHED in inspect.signature(obj).parameters
        }
        if not tests:
            continue
        found.update(tests)
        found.update({name: obj for name, obj in vars(module).items()
                      if _is_fixture(obj) and name != SWITCHED and name not in found})
    return found


def _needs_of_the_original_operator_fixture(module_name: str) -> list[str]:
    """What the scenario's own `operator` fixture depended on (the CRD, mesh CRDs ...)."""
    original = getattr(importlib.import_module(module_name), SWITCHED, None)
    if original is None:
        return []
    provided_here = {"namespace", "kube", "kubectl", "tmp_path", "k8s_bin", "request"}
    return [p for p in inspect.signature(original).parameters if p not in provided_here]


globals().update(_scenarios_and_their_fixtures())


@pytest.fixture
def operator(
    request: pytest.FixtureRequest, k8s_bin: Path, kubectl: Kubectl, namespace: str
) -> Iterator[InClusterOperator]:
    for needed in _needs_of_the_original_operator_fixture(request.function.__module__):
        request.getfixturevalue(needed)
    in_cluster = InClusterOperator(k8s_bin, kubectl, namespace)
    in_cluster.start()
    yield in_cluster
    print(f"--- operator log ---\n{in_cluster.log()[-6000:]}")
    in_cluster.stop()
