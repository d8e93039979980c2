"""Fixtures: session-wide bundles, module-wide servers (see serving_helpers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serving_helpers import Bundle, make_bundle, running
from sklearn.datasets import load_iris, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from tabular_helpers import Trained, bundle_specs, train_bundle


@pytest.fixture(scope="session")
def bundles_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="session")
def iris_bundle(bundles_root: Path) -> Bundle:
    X, y = load_iris(return_X_y=True)
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y)
    return make_bundle(
        bundles_root,
        model,
        X,
        name="iris",
        task="classification",
        feature_names=["sepal_length", "sepal_width", "petal_length", "petal_width"],
    )


@pytest.fixture(scope="session")
def regression_bundle(bundles_root: Path) -> Bundle:
    # Every row has its own prediction, so a mixed-up answer cannot go unnoticed.
    X, y = make_regression(n_samples=1000, n_features=6, noise=1.0, random_state=0)
    model = LinearRegression().fit(X, y)
    return make_bundle(bundles_root, model, X, name="house", task="regression")


@pytest.fixture(scope="session")
def tabular_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Trained]:
    """Bundles from `modelpilot train` on CSV/Parquet data with named-column preprocessing:
    numeric, mixed (numeric, categorical, bool), missing (with gaps), regression."""
    root = tmp_path_factory.mktemp("tabular")
    return {name: train_bundle(root, name, **spec) for name, spec in bundle_specs().items()}


@pytest.fixture(scope="module")
def iris_server(iris_bundle: Bundle) -> Iterator[tuple[str, Any]]:
    with running(iris_bundle.settings(max_batch_rows=64, max_body_bytes=64 * 1024)) as served:
        yield served


@pytest.fixture(scope="module")
def regression_server(regression_bundle: Bundle) -> Iterator[tuple[str, Any]]:
    with running(regression_bundle.settings()) as served:
        yield served
