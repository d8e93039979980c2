"""Reference statistics of the training inputs: the one format the trainer writes into the
bundle, the server counts live inputs against, and the operator compares (PSI) with.

Per input feature, a handful of bins:

- numeric: `edges` are interior cut points (training quantiles, strictly increasing); bin i
  holds the values v with edges[i-1] <= v < edges[i] (bin 0 everything below edges[0], the
  last bin everything from edges[-1] up) — numpy.searchsorted(edges, v, side="right");
- categorical: `categories` are the most frequent training values (as text); bin i holds
  categories[i], and one last bin "other" holds everything else, unseen values included.

`counts` are the training rows per bin, so a feature has len(edges)+1 or len(categories)+1
bins. Bins are few (MAX_BINS) and features counted are capped (MAX_SERIES bins in all), so the
server's /metrics stays bounded however wide the model: features beyond the cap are listed in
`unmonitored` and never counted.
"""

from __future__ import annotations

import bisect
from typing import Literal

from pydantic import BaseModel, Field

MAX_BINS = 10  # bins per feature (numeric: deciles; categorical: 9 values + "other")
MAX_SERIES = 1000  # features x bins the server exports at most (a Prometheus series each)
OTHER = "other"  # the categorical bin of every value not in `categories`

# The series the server exports on /metrics (names fixed here, read by the operator):
# counter {model, version, feature, bin}: live input rows per bin since the pod started.
FEATURE_BIN_TOTAL = "modelpilot_feature_bin_total"
# gauge {model, version, feature, bin}: the training rows' share of each bin (the reference).
FEATURE_REFERENCE_RATIO = "modelpilot_feature_reference_ratio"
LABEL_FEATURE = "feature"
LABEL_BIN = "bin"


class FeatureReference(BaseModel):
    """One feature's training distribution."""

    name: str
    kind: Literal["numeric", "categorical"]
    edges: list[float] = Field(default_factory=list)  # numeric only
    categories: list[str] = Field(default_factory=list)  # categorical only
    counts: list[int]

    @property
    def bins(self) -> int:
        return len(self.counts)

    def bin_labels(self) -> list[str]:
        """The `bin` label of each bin: its index for numeric, the category for categorical."""
        if self.kind == "categorical":
            return [*self.categories, OTHER]
        return [str(i) for i in range(self.bins)]

    def bin_of(self, value: object) -> int:
        """The bin of one value (the reference implementation the server vectorizes)."""
        if self.kind == "categorical":
            text = str(value)
            return self.categories.index(text) if text in self.categories else len(self.categories)
        return bisect.bisect_right(self.edges, float(value))  # type: ignore[arg-type]


class DriftReference(BaseModel):
    """Every counted feature's reference; stored as `drift_reference` in metadata.json."""

    rows: int  # training rows the counts come from
    features: list[FeatureReference]
    unmonitored: list[str] = Field(
        default_factory=list, description="Features beyond MAX_SERIES: not counted."
    )


def within_cap(features: list[FeatureReference]) -> tuple[list[FeatureReference], list[str]]:
    """The features counted (in order, until MAX_SERIES bins) and the names left out."""
    kept: list[FeatureReference] = []
    left: list[str] = []
    total = 0
    for feature in features:
        if total + feature.bins <= MAX_SERIES:
            kept.append(feature)
            total += feature.bins
        else:
            left.append(feature.name)
    return kept, left
