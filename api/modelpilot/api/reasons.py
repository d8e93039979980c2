"""The words of status conditions and Events: their types and reasons, as typed values.

A StrEnum member is its string, so what goes to the apiserver is exactly the word it always
was; in code a typo is a mypy error instead of a condition nobody matches. Three lists:

- ConditionType    the condition types the operator writes (status.conditions[].type).
- ConditionReason  the reasons of those conditions, Stalled's reasons included (a refused
                   spec, a refused policy, an object someone else owns, ...).
- EventReason      the reasons of the Events the operator posts.

Two more vocabularies serve as reasons too and keep their home where they are a field's type:
modelpilot.api.status.FailureReason (candidate.failureReason; the Stalled, Trained and
CanaryHealthy reason of a failure, and its Event's) and modelpilot.api.gate.GateVerdict
(candidate.verdict; the Evaluated reason).
"""

from __future__ import annotations

from enum import StrEnum


class ConditionType(StrEnum):
    READY = "Ready"  # True when the stable model serves with all its pods Ready
    RECONCILING = "Reconciling"  # True while work is in progress (kstatus)
    STALLED = "Stalled"  # True when stuck on something a person must fix (kstatus)
    TRAINED = "Trained"  # the newest candidate's training outcome
    EVALUATED = "Evaluated"  # the newest candidate's gate outcome
    CANARY_HEALTHY = "CanaryHealthy"  # the live analysis of the canary
    DRIFTED = "Drifted"  # live inputs vs the stable model's training data (spec.monitoring)
    DEGRADED = "Degraded"  # the live gate metric vs spec.monitoring.performance.threshold


class ConditionReason(StrEnum):
    # Ready
    NO_MODEL_YET = "NoModelYet"  # the first revision trains or deploys
    NO_MODEL = "NoModel"  # no revision has passed the gate
    STABLE_UNAVAILABLE = "StableUnavailable"  # the stable Deployment is missing or not Ready
    STABLE_SERVICE_UNAVAILABLE = "StableServiceUnavailable"  # Service NAME missing or wrong
    SERVING = "Serving"
    # Reconciling
    TRAINING_PENDING = "TrainingPending"  # the training pod cannot run (yet)
    TRAINING = "Training"  # also Trained=Unknown while the Job runs
    DEPLOYING = "Deploying"
    CANARY = "Canary"
    STABLE_ROLLING_OUT = "StableRollingOut"
    RECONCILED = "Reconciled"
    # Stalled
    PROGRESSING = "Progressing"  # Stalled=False
    FAILED = "Failed"  # a failed candidate without a failure reason (written by old versions)
    NO_MODEL_PASSED = "NoModelPassed"  # rejected by the gate and nothing serves
    INVALID_SPEC = "InvalidSpec"
    ESTIMATOR_NOT_ALLOWED = "EstimatorNotAllowed"
    NO_MODEL_STORE = "NoModelStore"
    PIN_UNKNOWN = "PinUnknown"  # spec.serving.pinRevision names no usable revision
    IMAGE_NOT_ALLOWED = "ImageNotAllowed"
    MODEL_STORE_NOT_ALLOWED = "ModelStoreNotAllowed"
    MODEL_STORE_NOT_FOUND = "ModelStoreNotFound"
    PROMETHEUS_NOT_ALLOWED = "PrometheusNotAllowed"
    DATASET_NOT_ALLOWED = "DatasetNotAllowed"
    DATASET_CLAIM_NOT_FOUND = "DatasetClaimNotFound"  # spec.training.dataset.pvc's claim
    DATASET_CLAIM_NOT_ALLOWED = "DatasetClaimNotAllowed"  # ... exists but lacks the label
    PRIORITY_CLASS_NOT_ALLOWED = "PriorityClassNotAllowed"
    SERVICE_ACCOUNT_NOT_ALLOWED = "ServiceAccountNotAllowed"
    PRETRAINED_NOT_ALLOWED = "PretrainedNotAllowed"  # a local pretrained.uri outside the store
    WEBHOOK_NOT_ALLOWED = "WebhookNotAllowed"  # a rollout webhook or notification URL
    NOT_OWNED = "NotOwned"  # an object of the name we need exists and someone else owns it
    ROUTER_SPEC_INVALID = "RouterSpecInvalid"  # the route cannot work as written
    METRICS_SPEC_INVALID = "MetricsSpecInvalid"  # the metrics query cannot work as written
    # Trained, Evaluated
    TRAINED = "Trained"
    NOT_STARTED = "NotStarted"
    SUPERSEDED = "Superseded"
    PASSED = "Passed"
    PINNED = "Pinned"
    NOT_EVALUATED = "NotEvaluated"
    # CanaryHealthy
    ANALYSIS_PENDING = "AnalysisPending"
    ANALYSIS_PASSED = "AnalysisPassed"
    PROMOTED = "Promoted"
    # Drifted
    BASELINE = "Baseline"  # the first window: the counts to compare the next one with
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    NO_REFERENCE = "NoReference"
    TOO_FEW_REQUESTS = "TooFewRequests"
    NO_DRIFT = "NoDrift"
    FEATURE_DRIFT = "FeatureDrift"
    # Degraded (METRICS_UNAVAILABLE above too)
    TOO_FEW_LABELS = "TooFewLabels"
    METRIC_WITHIN_THRESHOLD = "MetricWithinThreshold"
    METRIC_PAST_THRESHOLD = "MetricPastThreshold"


class EventReason(StrEnum):
    # A failure's Event says its FailureReason (TrainingFailed, AnalysisFailed, ...) and a
    # stall's its ConditionReason (NotOwned, InvalidSpec, ...): Draft.event takes all three.
    ROLLOUT_CHANGE_DEFERRED = "RolloutChangeDeferred"
    REVISION_STARTED = "RevisionStarted"
    SUPERSEDED = "Superseded"
    GATE_PASSED = "GatePassed"
    GATE_REJECTED = "GateRejected"
    CANARY_STARTED = "CanaryStarted"
    CANARY_PAUSED = "CanaryPaused"
    WEIGHT_CHANGED = "WeightChanged"
    PROMOTE_REQUESTED = "PromoteRequested"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    PIN_APPLIED = "PinApplied"
    DATA_PROBE_FAILED = "DataProbeFailed"
    DATA_CHANGED = "DataChanged"
    DRIFTED = "Drifted"
    DRIFT_CLEARED = "DriftCleared"
    DEGRADED = "Degraded"
    DEGRADATION_CLEARED = "DegradationCleared"
    WEBHOOK_GATE_PASSED = "WebhookGatePassed"
    WEBHOOK_GATE_HELD = "WebhookGateHeld"
    HEADER_ROUTE_SET = "HeaderRouteSet"
