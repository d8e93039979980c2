"""--log-format json: one object per line, with the fields a platform filters by."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from modelpilot.api import logformat


def _line(formatter: logging.Formatter, **extra: Any) -> dict[str, Any]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.logformat.{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.info("v%d trains", 2, extra=extra)
    return json.loads(stream.getvalue())


def test_a_json_line_carries_the_modeldeployment_and_revision_from_extra() -> None:
    line = _line(logformat.formatter("json"), modeldeployment="ml/iris", revision="v2")
    assert line["message"] == "v2 trains" and line["level"] == "INFO"
    assert line["modeldeployment"] == "ml/iris" and line["revision"] == "v2"
    assert line["time"].endswith("Z") and "request_id" not in line


def test_a_serving_pods_fixed_fields_and_the_current_request_id() -> None:
    formatter = logformat.formatter("json", {"modeldeployment": "iris", "revision": "v3"})
    token = logformat.request_id.set("req-42")
    try:
        line = _line(formatter)
    finally:
        logformat.request_id.reset(token)
    assert (line["modeldeployment"], line["revision"], line["request_id"]) == (
        "iris",
        "v3",
        "req-42",
    )


def test_an_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="log format 'xml': use one of text, json"):
        logformat.formatter("xml")
