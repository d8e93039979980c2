"""Names and buckets of the serving metrics: the server exports them, canary analysis reads them.

Defined once so a rename on one side cannot silently blind the other.
"""

from __future__ import annotations

REQUESTS_TOTAL = "modelpilot_requests_total"  # counter {model, version, protocol, code}
REQUEST_DURATION = "modelpilot_request_duration_seconds"  # histogram {model, version, protocol}
# counter {model, version, class}, classification only
PREDICTIONS_TOTAL = "modelpilot_predictions_total"
PREDICTION_VALUE = "modelpilot_prediction_value"  # histogram {model, version} (regression)

LABEL_MODEL = "model"
LABEL_VERSION = "version"
LABEL_PROTOCOL = "protocol"  # one of PROTOCOLS
# HTTP status code as text, "200"; a gRPC call counts under the code the same error has over
# HTTP (INVALID_ARGUMENT 400, NOT_FOUND 404, UNAVAILABLE 503 ...), so analysis classes them alike.
LABEL_CODE = "code"
PROTOCOLS = ("v1", "v2", "grpc")  # KServe V1, Open Inference over REST, and over gRPC
LABEL_CLASS = "class"

# Latency buckets in seconds: fine below 50 ms where a healthy model lives, coarse above,
# so p99 limits such as 250 ms fall between buckets that are close together.
DURATION_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
)
# Buckets for regression predictions are the same for every version on purpose: canary
# analysis compares stable's and canary's distributions bucket by bucket (PSI), which only
# means something when both histograms share their edges. (A bundle records its holdout's
# prediction range; a per-ModelDeployment bucket setting would be the way to use it.)
PREDICTION_VALUE_BUCKETS = tuple(float(x) for x in range(-100, 101, 10))

# Ground truth (POST /v2/models/NAME/feedback), joined in the pod that served the request:
# classifiers count each (label, predicted) pair; regressors sum what RMSE, MAE and R2 need.
FEEDBACK_CONFUSION_TOTAL = "modelpilot_feedback_confusion_total"  # counter {.., label, predicted}
FEEDBACK_SUM = "modelpilot_feedback_sum"  # gauge {model, version, stat} (regression)
LABEL_LABEL = "label"
LABEL_PREDICTED = "predicted"
LABEL_STAT = "stat"
# Prediction logs (spec.monitoring.logging)
PREDICTION_LOG_ROWS_TOTAL = "modelpilot_prediction_log_rows_total"  # counter: rows written
PREDICTION_LOG_DROPPED_TOTAL = "modelpilot_prediction_log_dropped_rows_total"  # buffer full
PREDICTION_LOG_ERRORS_TOTAL = "modelpilot_prediction_log_write_errors_total"  # failed writes
