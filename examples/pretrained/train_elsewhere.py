"""The notebook: a churn model trained outside the cluster, saved the way you would save yours.

    python examples/pretrained/train_elsewhere.py churn.joblib
    sha256sum churn.joblib        # the digest spec.training.pretrained.sha256 must carry

It fits a Pipeline on last year's customers (churn-2025.csv: a numeric column and a text
column, both with gaps); modelpilot then evaluates it on this year's (churn-2026.csv), gates
it, and serves it. Fit it with the scikit-learn version of the modelpilot images (`pip
install 'modelpilot[trainer]'` pins it): a model pickled by another version is refused.
The e2e test tests/e2e/test_pretrained.py runs this file, so the example cannot rot.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

HERE = Path(__file__).resolve().parent


def fit(data: Path = HERE / "churn-2025.csv") -> Pipeline:
    frame = pd.read_csv(data)
    features = frame[["tenure", "monthly", "plan", "region"]]
    pipeline = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        ("numbers", SimpleImputer(strategy="median"), ["tenure", "monthly"]),
                        (
                            "text",
                            make_pipeline(
                                SimpleImputer(strategy="constant", fill_value="unknown"),
                                OneHotEncoder(handle_unknown="ignore"),
                            ),
                            ["plan", "region"],
                        ),
                    ]
                ),
            ),
            ("forest", RandomForestClassifier(n_estimators=40, random_state=0)),
        ]
    )
    return pipeline.fit(features, frame["churned"])


def main(out: str) -> None:
    joblib.dump(fit(), out)
    digest = hashlib.sha256(Path(out).read_bytes()).hexdigest()
    print(f"{digest}  {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "churn.joblib")
