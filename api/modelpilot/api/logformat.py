"""One log format for the operator and the server: text for people, JSON for log pipelines.

`--log-format json` (chart value `logFormat`) makes every record one JSON object with
`time`, `level`, `logger` and `message`, plus the fields a platform filters by when they are
known: `modeldeployment` (NAMESPACE/NAME in the operator, NAME in a serving pod),
`revision`, and `request_id` (the serving pod's X-Request-ID of the request being handled).
Fields come from a record's `extra`, from values fixed for the whole process (a serving
pod serves one revision of one model), and from the request context variable.
Here, in the shared contract, so both components write the same field names.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FIELDS = ("modeldeployment", "revision", "request_id")

# The request a serving pod is handling now (set by its ASGI wrapper), for every record
# logged while handling it.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "modelpilot_request_id", default=None
)


class JsonFormatter(logging.Formatter):
    def __init__(self, static: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._static = {k: v for k, v in (static or {}).items() if v}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self._static,
        }
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                out[field] = value
        current = request_id.get()
        if current is not None and "request_id" not in out:
            out["request_id"] = current
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def formatter(log_format: str, static: Mapping[str, str] | None = None) -> logging.Formatter:
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r}: use one of {', '.join(FORMATS)}")
    return JsonFormatter(static) if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(
    log_format: str, level: str | int = "INFO", static: Mapping[str, str] | None = None
) -> None:
    """Root logging to stderr in `log_format`; every existing root handler is reformatted."""
    chosen = formatter(log_format, static)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(chosen)
    root.setLevel(level.upper() if isinstance(level, str) else level)
