"""Reading a model server's /metrics text into per-version counters.

The metric names and labels are the ones `modelpilot.api.serving_metrics` defines and the
server exports; anything else on the page (process and Python metrics, `_created` series)
is ignored. Series that differ only in labels analysis does not distinguish (protocol v1/v2,
individual status codes within a class) are summed.
"""

from __future__ import annotations

from collections import defaultdict

from modelpilot.api import serving_metrics as names
from modelpilot.operator.analysis.counts import Counts, code_class, per_bucket

_REQUESTS = names.REQUESTS_TOTAL
_LATENCY_BUCKET = names.REQUEST_DURATION + "_bucket"
_PREDICTIONS = names.PREDICTIONS_TOTAL
_VALUE_BUCKET = names.PREDICTION_VALUE + "_bucket"


def parse_metrics(text: str, *, model: str | None = None) -> dict[str, Counts]:
    """Cumulative counters per model version found in exposition-format `text`.

    Only series of `model` when given. Raises ValueError on text that is not exposition
    format.
    """
    # Imported here: the CLI reaches this package through modelpilot.operator.errors, and
    # `pip install modelpilot` (the CLI alone) has no prometheus_client.
    from prometheus_client.parser import text_string_to_metric_families

    requests: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    latency: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    classes: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    values: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if model is not None and labels.get(names.LABEL_MODEL) != model:
                continue
            version = labels.get(names.LABEL_VERSION)
            if version is None:
                continue
            if sample.name == _REQUESTS:
                requests[version][code_class(labels.get(names.LABEL_CODE, ""))] += sample.value
            elif sample.name == _LATENCY_BUCKET:
                latency[version][float(labels["le"])] += sample.value
            elif sample.name == _PREDICTIONS:
                classes[version][labels.get(names.LABEL_CLASS, "")] += sample.value
            elif sample.name == _VALUE_BUCKET:
                values[version][float(labels["le"])] += sample.value
    versions = set(requests) | set(latency) | set(classes) | set(values)
    return {
        version: Counts(
            requests=dict(requests[version]),
            latency=per_bucket(latency[version]),
            predicted_classes=dict(classes[version]),
            prediction_values=per_bucket(values[version]),
        )
        for version in sorted(versions)
    }
