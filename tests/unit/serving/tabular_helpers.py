"""Bundles trained the way users train them: `modelpilot train` on a CSV or Parquet file of
numeric and categorical columns, some with missing values, with `spec.training.preprocessing`
on named columns. The trainer fits on a DataFrame; the server must predict the same way."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from modelpilot.api.bundle import MODEL_FILE, BundleMetadata, read_metadata
from modelpilot.api.summary import decode
from modelpilot.serving.settings import Settings
from modelpilot.trainer.__main__ import main as train_main

CITIES = ("paris", "lyon", "nice")
ONE_HOT_CITY = {"transformer": "OneHotEncoder", "columns": ["city"]}


def shop_frame(rows: int = 240, *, missing: bool = False, seed: int = 0) -> pd.DataFrame:
    """age (float), visits (int), city (string), member (bool); `bought` and `spend` targets."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 12, rows).round(1)
    visits = rng.integers(0, 20, rows)
    city = rng.choice(CITIES, rows)
    member = rng.random(rows) < 0.4
    city_effect = np.select([city == "paris", city == "lyon"], [6.0, -4.0], 0.0)
    score = 0.08 * (age - 40) + 0.3 * (visits - 10) + city_effect / 3 + member * 1.5
    frame = pd.DataFrame(
        {
            "age": age,
            "visits": visits,
            "city": city,
            "member": member,
            "bought": np.where(score + rng.normal(0, 0.5, rows) > 0, "yes", "no"),
            "spend": 3.0 * visits + city_effect + 0.2 * age + rng.normal(0, 1.0, rows),
        }
    )
    if missing:
        frame.loc[rng.random(rows) < 0.1, "age"] = np.nan
        frame.loc[rng.random(rows) < 0.1, "city"] = np.nan
    return frame


@dataclass(frozen=True)
class Trained:
    name: str
    path: Path
    sha256: str
    metadata: BundleMetadata
    frame: pd.DataFrame  # the whole data set, features and targets
    features: list[str]
    pipeline: Any  # the bundle's model, loaded here to compute expected answers

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "model_dir": str(self.path),
            "model_name": self.name,
            "expected_sha256": self.sha256,
            "drain_seconds": 0.0,
        }
        values.update(overrides)
        return Settings(**values)

    def expected(self, rows: pd.DataFrame) -> list[Any]:
        return self.pipeline.predict(rows[self.features]).tolist()


def train_bundle(
    root: Path,
    name: str,
    frame: pd.DataFrame,
    *,
    target: str,
    estimator: str,
    preprocessing: list[dict[str, Any]],
    metric: str = "accuracy",
    params: dict[str, Any] | None = None,
    fmt: str = "csv",
) -> Trained:
    """Write the data as a user would, then run the trainer's own entrypoint on it."""
    root.mkdir(parents=True, exist_ok=True)
    data = root / f"{name}.{fmt}"
    if fmt == "csv":
        frame.to_csv(data, index=False)
    else:
        frame.to_parquet(data, index=False)
    features = [c for c in frame.columns if c not in ("bought", "spend")]
    spec = {
        "training": {
            "dataset": {"uri": f"file://{data}", "target": target, "features": features},
            "estimator": estimator,
            "params": params or {},
            "preprocessing": preprocessing,
        },
        "evaluation": {"metric": metric, "threshold": -1e9 if metric != "accuracy" else 0.5},
    }
    spec_file = root / f"{name}.json"
    spec_file.write_text(json.dumps(spec))
    out = root / "store" / name / "v1"
    log = root / f"{name}.termination"
    code = train_main(
        [
            "--spec",
            str(spec_file),
            "--output",
            str(out),
            "--termination-log",
            str(log),
            "--name",
            name,
        ],
        {},
    )
    summary = decode(log.read_text())
    assert code == 0, summary
    metadata = read_metadata(out)
    return Trained(
        name=name,
        path=out,
        sha256=metadata.model_sha256,
        metadata=metadata,
        frame=frame,
        features=features,
        pipeline=joblib.load(out / MODEL_FILE),
    )


def bundle_specs() -> dict[str, dict[str, Any]]:
    complete, gappy = shop_frame(), shop_frame(missing=True)
    return {
        # Numeric only, but scaled by name: the ColumnTransformer needs a DataFrame too.
        "numeric": dict(
            frame=complete[["age", "visits", "bought"]],
            target="bought",
            estimator="sklearn.linear_model.LogisticRegression",
            preprocessing=[{"transformer": "StandardScaler"}],
        ),
        "mixed": dict(
            frame=complete.drop(columns="spend"),
            target="bought",
            estimator="sklearn.linear_model.LogisticRegression",
            preprocessing=[
                ONE_HOT_CITY,
                {"transformer": "StandardScaler", "columns": ["age", "visits"]},
            ],
        ),
        # age and city may be missing (an imputer; NaN is a category seen in training);
        # visits may not: nothing in front of LogisticRegression takes NaN there.
        "missing": dict(
            frame=gappy[["age", "visits", "city", "bought"]],
            target="bought",
            estimator="sklearn.linear_model.LogisticRegression",
            preprocessing=[{"transformer": "SimpleImputer", "columns": ["age"]}, ONE_HOT_CITY],
        ),
        "regression": dict(
            frame=complete[["age", "visits", "city", "spend"]],
            target="spend",
            estimator="sklearn.linear_model.Ridge",
            metric="r2",
            fmt="parquet",
            preprocessing=[{"transformer": "StandardScaler", "columns": ["age"]}, ONE_HOT_CITY],
        ),
    }
