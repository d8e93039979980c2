"""What one server process is told: flags, each with an environment variable as its default.

Pods pass configuration through the environment (the operator sets MODELPILOT_*), people
pass flags; a flag wins over the environment. Parsing is a pure function of (argv, environ)
so tests need not touch os.environ.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from modelpilot.api.names import (
    ENV_EXPECTED_SHA256,
    ENV_MODEL_DIR,
    ENV_MODEL_NAME,
    ENV_MODEL_VERSION,
    ENV_OWNER_UID,
    ENV_PORT,
    SERVING_PORT,
)

ENV_HOST = "MODELPILOT_HOST"
ENV_MAX_BATCH_ROWS = "MODELPILOT_MAX_BATCH_ROWS"
ENV_MAX_BODY_BYTES = "MODELPILOT_MAX_BODY_BYTES"
ENV_MAX_INFLIGHT_BYTES = "MODELPILOT_MAX_INFLIGHT_BYTES"
ENV_BATCH_WAIT_MS = "MODELPILOT_BATCH_WAIT_MS"
ENV_DRAIN_SECONDS = "MODELPILOT_DRAIN_SECONDS"
ENV_SHUTDOWN_TIMEOUT = "MODELPILOT_SHUTDOWN_TIMEOUT_SECONDS"
ENV_LOG_LEVEL = "MODELPILOT_LOG_LEVEL"
ENV_LOG_FORMAT = "MODELPILOT_LOG_FORMAT"
ENV_GRPC_PORT = "MODELPILOT_GRPC_PORT"
ENV_MAX_QUEUED_REQUESTS = "MODELPILOT_MAX_QUEUED_REQUESTS"
ENV_LIMIT_CONCURRENCY = "MODELPILOT_LIMIT_CONCURRENCY"
ENV_HEADER_TIMEOUT = "MODELPILOT_HEADER_TIMEOUT_SECONDS"
ENV_BODY_TIMEOUT = "MODELPILOT_BODY_TIMEOUT_SECONDS"
ENV_ENABLE_DOCS = "MODELPILOT_ENABLE_DOCS"
ENV_PUBLISH_CATEGORY_VALUES = "MODELPILOT_PUBLISH_CATEGORY_VALUES"
ENV_PREDICTION_LOG_DIR = "MODELPILOT_PREDICTION_LOG_DIR"
ENV_LOG_SAMPLE_RATE = "MODELPILOT_LOG_SAMPLE_RATE"
ENV_LOG_MAX_BUFFERED_ROWS = "MODELPILOT_LOG_MAX_BUFFERED_ROWS"
ENV_LOG_FLUSH_SECONDS = "MODELPILOT_LOG_FLUSH_SECONDS"
ENV_FEEDBACK_MEMORY = "MODELPILOT_FEEDBACK_MEMORY"

DEFAULT_MAX_BATCH_ROWS = 1024
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
# Request bodies held at once across all connections: 16 maximum-size bodies over HTTP, and
# as many gRPC messages (16 concurrent RPCs). 256 MiB at worst, plus one body being parsed
# at a time (parsing runs on the event loop) and the model: within the default serving
# pod's 1 GiB memory limit.
DEFAULT_MAX_INFLIGHT_BYTES = 128 * 1024 * 1024
DEFAULT_GRPC_PORT = 8081  # KServe's and MLServer's default gRPC port too


@dataclass(frozen=True, slots=True)
class Settings:
    model_dir: str
    model_name: str
    expected_sha256: str
    # None: the bundle's revision (metadata.json "revision") names the version.
    model_version: str | None = None
    host: str = "0.0.0.0"
    port: int = SERVING_PORT
    # The Open Inference Protocol over gRPC (grpc_server.py); 0 = off. `modelpilot serve`
    # defaults to DEFAULT_GRPC_PORT; code building Settings opts in.
    grpc_port: int = 0
    # Rows one request may carry, and rows one predict call may combine across requests.
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Bytes of request bodies held at once across all connections; beyond it, 503 with
    # Retry-After before the body is read (inflight.py). Also bounds concurrent gRPC
    # calls: max_inflight_bytes // max_body_bytes of them.
    max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES
    # Upper bound on how long a batch waits for the requests the batcher expects (as many as
    # were outstanding after the last batch; never more than half the last predict time).
    # An idle or single-client server never waits. 0 = never wait.
    batch_wait_ms: float = 2.0
    # After SIGTERM: seconds to keep serving with readiness false, so endpoints controllers
    # and load balancers stop sending before the listener closes.
    drain_seconds: float = 2.0
    # Then: the longest to wait for in-flight requests before exiting anyway.
    shutdown_timeout_seconds: float = 25.0
    log_level: str = "info"
    log_format: str = "text"  # or json (modelpilot.api.logformat)
    # The ModelDeployment uid the bundle must be bound to; None: not checked (a person
    # serving a bundle by hand). The operator always passes it.
    owner_uid: str | None = None
    # Requests waiting for the model beyond this are refused with 503 + Retry-After.
    max_queued_requests: int = 256
    # Open connections plus running requests beyond this get uvicorn's 503 at once.
    limit_concurrency: int = 1000
    # A client must send a request's headers within header_timeout seconds of starting it
    # (or of connecting), and its body within body_timeout seconds after the headers, or
    # the connection is closed: a slowloris client cannot hold a connection.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    # /docs, /redoc and /openapi.json: off unless asked for (they describe the server).
    enable_docs: bool = False
    # Drift bins of categorical features named by their training values on /metrics (the
    # training data's most frequent values); off: by their index (c0, c1, ..., other).
    publish_category_values: bool = False
    # Prediction logs (spec.monitoring.logging): the directory the sampled requests and the
    # labels go to as Parquet files; None: nothing is logged.
    prediction_log_dir: str | None = None
    log_sample_rate: float = 0.0
    log_max_buffered_rows: int = 10_000
    log_flush_seconds: float = 30.0
    # Requests whose predictions are kept for joining labels fed back by request id.
    feedback_memory: int = 10_000
    # Names this pod's log files (the pod's hostname).
    pod_name: str = "server"


class SettingsError(ValueError):
    """A required setting is missing or a value is out of range."""


def _env_default(environ: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = environ.get(name)
    return value if value not in (None, "") else default


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value}")
    return value


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    env = environ
    parser = argparse.ArgumentParser(
        prog="modelpilot serve",
        description="Serve one verified model bundle over KServe V1 and Open Inference V2.",
    )
    add = parser.add_argument
    add(
        "--model-dir",
        default=_env_default(env, ENV_MODEL_DIR),
        help=f"bundle directory (env {ENV_MODEL_DIR})",
    )
    add(
        "--model-name",
        default=_env_default(env, ENV_MODEL_NAME),
        help=f"name in the URL paths (env {ENV_MODEL_NAME})",
    )
    add(
        "--expected-sha256",
        default=_env_default(env, ENV_EXPECTED_SHA256),
        help=f"sha256 of model.joblib the operator trusts (env {ENV_EXPECTED_SHA256})",
    )
    add(
        "--model-version",
        default=_env_default(env, ENV_MODEL_VERSION),
        help=f"version reported in headers and metrics; default the bundle's revision "
        f"(env {ENV_MODEL_VERSION})",
    )
    add(
        "--expected-owner-uid",
        default=_env_default(env, ENV_OWNER_UID),
        help=f"refuse a bundle not trained for this ModelDeployment uid (env {ENV_OWNER_UID})",
    )
    add("--host", default=_env_default(env, ENV_HOST, "0.0.0.0"), help=f"(env {ENV_HOST})")
    add(
        "--port",
        type=_port,
        default=_env_default(env, ENV_PORT, str(SERVING_PORT)),
        help=f"(env {ENV_PORT})",
    )
    add(
        "--grpc-port",
        type=_port,
        default=_env_default(env, ENV_GRPC_PORT, str(DEFAULT_GRPC_PORT)),
        help=f"Open Inference Protocol gRPC port; 0 = no gRPC (env {ENV_GRPC_PORT})",
    )
    add(
        "--max-batch-rows",
        type=_positive_int,
        default=_env_default(env, ENV_MAX_BATCH_ROWS, str(DEFAULT_MAX_BATCH_ROWS)),
        help=f"most rows per request and per predict call (env {ENV_MAX_BATCH_ROWS})",
    )
    add(
        "--max-body-bytes",
        type=_positive_int,
        default=_env_default(env, ENV_MAX_BODY_BYTES, str(DEFAULT_MAX_BODY_BYTES)),
        help=f"largest request body accepted (env {ENV_MAX_BODY_BYTES})",
    )
    add(
        "--max-inflight-bytes",
        type=_positive_int,
        default=_env_default(env, ENV_MAX_INFLIGHT_BYTES, str(DEFAULT_MAX_INFLIGHT_BYTES)),
        help=f"request body bytes held at once across all connections; beyond it 503 + "
        f"Retry-After; at least --max-body-bytes (env {ENV_MAX_INFLIGHT_BYTES})",
    )
    add(
        "--batch-wait-ms",
        type=_non_negative_float,
        default=_env_default(env, ENV_BATCH_WAIT_MS, "2"),
        help=f"longest a batch waits for the concurrent requests it expects; 0 = never "
        f"(env {ENV_BATCH_WAIT_MS})",
    )
    add(
        "--drain-seconds",
        type=_non_negative_float,
        default=_env_default(env, ENV_DRAIN_SECONDS, "2"),
        help=f"after SIGTERM, keep serving with readiness false this long "
        f"(env {ENV_DRAIN_SECONDS})",
    )
    add(
        "--shutdown-timeout-seconds",
        type=_non_negative_float,
        default=_env_default(env, ENV_SHUTDOWN_TIMEOUT, "25"),
        help=f"then wait at most this long for in-flight requests (env {ENV_SHUTDOWN_TIMEOUT})",
    )
    add(
        "--max-queued-requests",
        type=_positive_int,
        default=_env_default(env, ENV_MAX_QUEUED_REQUESTS, "256"),
        help=f"requests waiting for the model beyond this get 503 + Retry-After "
        f"(env {ENV_MAX_QUEUED_REQUESTS})",
    )
    add(
        "--limit-concurrency",
        type=_positive_int,
        default=_env_default(env, ENV_LIMIT_CONCURRENCY, "1000"),
        help=f"open connections + running requests beyond this get 503 "
        f"(env {ENV_LIMIT_CONCURRENCY})",
    )
    add(
        "--header-timeout-seconds",
        type=_positive_float,
        default=_env_default(env, ENV_HEADER_TIMEOUT, "10"),
        help=f"close a connection whose request headers take longer (env {ENV_HEADER_TIMEOUT})",
    )
    add(
        "--body-timeout-seconds",
        type=_positive_float,
        default=_env_default(env, ENV_BODY_TIMEOUT, "30"),
        help=f"close a connection whose request body takes longer after its headers "
        f"(env {ENV_BODY_TIMEOUT})",
    )
    add(
        "--enable-docs",
        action="store_true",
        default=_env_default(env, ENV_ENABLE_DOCS, "") in ("1", "true", "yes"),
        help=f"serve /docs, /redoc and /openapi.json (env {ENV_ENABLE_DOCS}=true)",
    )
    add(
        "--publish-category-values",
        action="store_true",
        default=_env_default(env, ENV_PUBLISH_CATEGORY_VALUES, "") in ("1", "true", "yes"),
        help=f"label categorical drift bins on /metrics with the training data's most frequent "
        f"values instead of their index (env {ENV_PUBLISH_CATEGORY_VALUES}=true)",
    )
    add(
        "--prediction-log-dir",
        default=_env_default(env, ENV_PREDICTION_LOG_DIR),
        help=f"write sampled requests and fed-back labels here as Parquet files "
        f"(env {ENV_PREDICTION_LOG_DIR})",
    )
    add(
        "--log-sample-rate",
        type=_rate,
        default=_env_default(env, ENV_LOG_SAMPLE_RATE, "0"),
        help=f"share of requests logged, by a hash of the request id (env {ENV_LOG_SAMPLE_RATE})",
    )
    add(
        "--log-max-buffered-rows",
        type=_positive_int,
        default=_env_default(env, ENV_LOG_MAX_BUFFERED_ROWS, "10000"),
        help=f"rows held before writing; beyond, requests are not logged "
        f"(env {ENV_LOG_MAX_BUFFERED_ROWS})",
    )
    add(
        "--log-flush-seconds",
        type=_positive_float,
        default=_env_default(env, ENV_LOG_FLUSH_SECONDS, "30"),
        help=f"write buffered rows at least this often (env {ENV_LOG_FLUSH_SECONDS})",
    )
    add(
        "--feedback-memory",
        type=_positive_int,
        default=_env_default(env, ENV_FEEDBACK_MEMORY, "10000"),
        help=f"recent requests whose predictions a label can be fed back for "
        f"(env {ENV_FEEDBACK_MEMORY})",
    )
    add(
        "--log-level",
        default=_env_default(env, ENV_LOG_LEVEL, "info"),
        choices=["critical", "error", "warning", "info", "debug"],
    )
    add(
        "--log-format",
        default=_env_default(env, ENV_LOG_FORMAT, "text"),
        choices=["text", "json"],
        help="json: one object per line with modeldeployment, revision and request_id "
        f"(env {ENV_LOG_FORMAT})",
    )
    return parser


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """Flags over environment. Raises SettingsError naming what is missing."""
    parser = build_parser(environ)
    args = parser.parse_args(list(argv))
    missing = [
        f"--{flag.replace('_', '-')} (env {env})"
        for flag, env in (
            ("model_dir", ENV_MODEL_DIR),
            ("model_name", ENV_MODEL_NAME),
            ("expected_sha256", ENV_EXPECTED_SHA256),
        )
        if not getattr(args, flag)
    ]
    if missing:
        raise SettingsError(f"missing required setting(s): {', '.join(missing)}")
    if int(args.max_inflight_bytes) < int(args.max_body_bytes):
        raise SettingsError(
            f"--max-inflight-bytes ({args.max_inflight_bytes}) must be at least "
            f"--max-body-bytes ({args.max_body_bytes}), or no maximum-size body is ever accepted"
        )
    return Settings(
        model_dir=args.model_dir,
        model_name=args.model_name,
        expected_sha256=args.expected_sha256.strip().lower(),
        model_version=args.model_version,
        host=args.host,
        port=int(args.port),
        grpc_port=int(args.grpc_port),
        max_batch_rows=int(args.max_batch_rows),
        max_body_bytes=int(args.max_body_bytes),
        max_inflight_bytes=int(args.max_inflight_bytes),
        batch_wait_ms=float(args.batch_wait_ms),
        drain_seconds=float(args.drain_seconds),
        shutdown_timeout_seconds=float(args.shutdown_timeout_seconds),
        log_level=args.log_level,
        log_format=args.log_format,
        owner_uid=args.expected_owner_uid or None,
        max_queued_requests=int(args.max_queued_requests),
        limit_concurrency=int(args.limit_concurrency),
        header_timeout_seconds=float(args.header_timeout_seconds),
        body_timeout_seconds=float(args.body_timeout_seconds),
        enable_docs=bool(args.enable_docs),
        publish_category_values=bool(args.publish_category_values),
        prediction_log_dir=args.prediction_log_dir or None,
        log_sample_rate=float(args.log_sample_rate),
        log_max_buffered_rows=int(args.log_max_buffered_rows),
        log_flush_seconds=float(args.log_flush_seconds),
        feedback_memory=int(args.feedback_memory),
        pod_name=_env_default(environ, "HOSTNAME", "server") or "server",
    )
