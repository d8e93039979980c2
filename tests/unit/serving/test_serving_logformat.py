"""The server's JSON logs: the flag, and the request id of the request being handled."""

from __future__ import annotations

import asyncio
from typing import Any

from modelpilot.api import logformat
from modelpilot.serving.server import RequestIdApp
from modelpilot.serving.settings import parse_settings


def test_the_serving_wrapper_sets_the_request_id_only_while_handling_it() -> None:
    seen: list[str | None] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(logformat.request_id.get())

    app = RequestIdApp(inner)
    scope = {"type": "http", "headers": [(b"x-request-id", b"abc-1")]}
    asyncio.run(app(scope, None, None))
    asyncio.run(app({"type": "http", "headers": []}, None, None))
    assert seen == ["abc-1", None] and logformat.request_id.get() is None


def test_the_server_takes_the_format_from_its_flag_or_environment() -> None:
    base = ["--model-dir", "/m", "--model-name", "iris", "--expected-sha256", "a" * 64]
    assert parse_settings(base, {}).log_format == "text"
    assert parse_settings([*base, "--log-format", "json"], {}).log_format == "json"
    assert parse_settings(base, {"MODELPILOT_LOG_FORMAT": "json"}).log_format == "json"
