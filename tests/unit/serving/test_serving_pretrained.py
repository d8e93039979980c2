"""A model trained elsewhere (spec.training.pretrained) serves like a trained one: the
trainer's bundle of a notebook's Pipeline (numeric and text columns, gaps in both) answers V1
objects and V2 per-feature tensors exactly as the notebook's pipeline predicts."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import httpx
import joblib
import pandas as pd
from serving_helpers import running
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from tabular_helpers import shop_frame

from modelpilot.api.bundle import read_metadata
from modelpilot.api.summary import decode
from modelpilot.serving.settings import Settings
from modelpilot.trainer.__main__ import main as train_main

FEATURES = ["age", "visits", "city"]


def _json(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def test_a_pretrained_pipeline_serves_as_the_notebook_predicts(tmp_path: Path) -> None:
    notebook = shop_frame(300, missing=True, seed=5)
    pipeline = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        (
                            "city",
                            OrdinalEncoder(
                                handle_unknown="use_encoded_value",
                                unknown_value=-1,
                                encoded_missing_value=-2,
                            ),
                            ["city"],
                        )
                    ],
                    remainder="passthrough",
                ),
            ),
            ("model", HistGradientBoostingClassifier(max_iter=30, random_state=0)),
        ]
    ).fit(notebook[FEATURES], notebook["bought"])
    model_file = tmp_path / "store" / "pretrained" / "shop.joblib"
    model_file.parent.mkdir(parents=True)
    joblib.dump(pipeline, model_file)
    data = tmp_path / "store" / "data" / "shop.csv"
    data.parent.mkdir(parents=True)
    frame = shop_frame(120, missing=True, seed=6)
    frame[[*FEATURES, "bought"]].to_csv(data, index=False)
    spec = {
        "training": {
            "dataset": {"uri": str(data), "target": "bought"},
            "pretrained": {
                "uri": str(model_file),
                "sha256": hashlib.sha256(model_file.read_bytes()).hexdigest(),
            },
        },
        "evaluation": {"metric": "accuracy"},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out, log = tmp_path / "bundles" / "shop" / "v1", tmp_path / "termination"
    argv = ["--spec", str(tmp_path / "spec.json"), "--output", str(out)]
    assert train_main([*argv, "--termination-log", str(log), "--name", "shop"], {}) == 0
    summary = decode(log.read_text())
    assert read_metadata(out).features.accepts_missing == [True, True, True]

    features = frame[FEATURES]
    gaps = features.isna().any(axis=1)
    rows = pd.concat([features[gaps].head(8), features[~gaps].head(8)])
    assert rows.isna().to_numpy().any()
    expected = pipeline.predict(rows).tolist()
    settings = Settings(
        model_dir=str(out),
        model_name="shop",
        expected_sha256=summary.model_sha256,
        drain_seconds=0.0,
    )
    with running(settings) as (url, _):
        objects = [{c: _json(v) for c, v in row.items()} for _, row in rows.iterrows()]
        v1 = httpx.post(f"{url}/v1/models/shop:predict", json={"instances": objects})
        assert v1.status_code == 200, v1.text
        assert v1.json()["predictions"] == expected
        inputs = [
            {
                "name": c,
                "datatype": "BYTES" if c == "city" else ("INT64" if c == "visits" else "FP64"),
                "shape": [len(rows)],
                "data": [_json(v) for v in rows[c].tolist()],
            }
            for c in FEATURES
        ]
        v2 = httpx.post(f"{url}/v2/models/shop/infer", json={"inputs": inputs})
        assert v2.status_code == 200, v2.text
        assert v2.json()["outputs"][0]["data"] == expected
        assert pd.Series(expected).nunique() == 2  # both classes answered, not a constant
