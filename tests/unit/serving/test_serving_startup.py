"""`modelpilot serve` refuses to start on a bundle it cannot trust, in one stderr line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from serving_helpers import Bundle

from modelpilot.api.bundle import METADATA_FILE, MODEL_FILE
from modelpilot.serving.app import create_app
from modelpilot.serving.settings import Settings, SettingsError, parse_settings


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelpilot.serving", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def copy_bundle(bundle: Bundle, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(bundle.path, target)
    return target


def test_tampered_bundle_refuses_to_start(iris_bundle, tmp_path):
    path = copy_bundle(iris_bundle, tmp_path)
    with open(path / MODEL_FILE, "ab") as handle:
        handle.write(b"\x00")
    result = serve(
        "--model-dir",
        str(path),
        "--model-name",
        "iris",
        "--expected-sha256",
        iris_bundle.sha256,
        "--port",
        "0",
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "refusing to start" in lines[0]
    assert "BundleDigestMismatch" in lines[0]
    assert iris_bundle.sha256 in lines[0]


def test_a_refusal_is_the_containers_termination_message(iris_bundle, tmp_path):
    # Issue 21 §7: the server wrote its refusal only to stderr, so the pod's status (and the
    # operator's Ready message) said just "CrashLoopBackOff". Seen failing before the fix.
    path = copy_bundle(iris_bundle, tmp_path)
    with open(path / MODEL_FILE, "ab") as handle:
        handle.write(b"\x00")
    log = tmp_path / "termination-log"
    result = serve(
        "--model-dir",
        str(path),
        "--model-name",
        "iris",
        "--expected-sha256",
        iris_bundle.sha256,
        "--port",
        "0",
        env={"MODELPILOT_TERMINATION_LOG": str(log)},
    )
    assert result.returncode == 1
    message = log.read_text()
    assert message.startswith("modelpilot serve: refusing to start:")
    assert "BundleDigestMismatch" in message and iris_bundle.sha256 in message


def test_version_skewed_bundle_refuses_to_start(iris_bundle, tmp_path):
    path = copy_bundle(iris_bundle, tmp_path)
    metadata = json.loads((path / METADATA_FILE).read_text())
    metadata["versions"]["sklearn"] = "0.24.2"
    (path / METADATA_FILE).write_text(json.dumps(metadata))
    result = serve(
        env={
            "MODELPILOT_MODEL_DIR": str(path),
            "MODELPILOT_MODEL_NAME": "iris",
            "MODELPILOT_EXPECTED_SHA256": iris_bundle.sha256,
            "MODELPILOT_PORT": "0",
        }
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "BundleVersionSkew" in lines[0]
    assert "sklearn trained 0.24.2" in lines[0]


def test_missing_bundle_refuses_to_start(tmp_path):
    result = serve(
        "--model-dir",
        str(tmp_path / "nothing"),
        "--model-name",
        "iris",
        "--expected-sha256",
        "ab" * 32,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "BundleNotFound" in result.stderr


def test_missing_settings_name_the_flag_and_the_variable():
    result = serve("--model-name", "iris")
    assert result.returncode == 2
    assert "--model-dir (env MODELPILOT_MODEL_DIR)" in result.stderr
    assert "--expected-sha256 (env MODELPILOT_EXPECTED_SHA256)" in result.stderr


def test_cli_dispatches_serve():
    from modelpilot.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0


ENV = {
    "MODELPILOT_MODEL_DIR": "/models/ml/iris/v3",
    "MODELPILOT_MODEL_NAME": "iris",
    "MODELPILOT_EXPECTED_SHA256": "AB" * 32,
    "MODELPILOT_MODEL_VERSION": "v3",
    "MODELPILOT_PORT": "9000",
    "MODELPILOT_MAX_BATCH_ROWS": "16",
    "MODELPILOT_MAX_BODY_BYTES": "2048",
}


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (
            [],
            ENV,
            Settings(
                model_dir="/models/ml/iris/v3",
                model_name="iris",
                expected_sha256="ab" * 32,
                model_version="v3",
                port=9000,
                max_batch_rows=16,
                max_body_bytes=2048,
                grpc_port=8081,
            ),
        ),
        (
            [
                "--port",
                "8081",
                "--model-version",
                "v4",
                "--host",
                "127.0.0.1",
                "--max-batch-rows",
                "8",
                "--grpc-port",
                "0",
            ],
            ENV,
            Settings(
                model_dir="/models/ml/iris/v3",
                model_name="iris",
                expected_sha256="ab" * 32,
                model_version="v4",
                port=8081,
                host="127.0.0.1",
                max_batch_rows=8,
                max_body_bytes=2048,
            ),
        ),
        (
            ["--model-dir", "d", "--model-name", "n", "--expected-sha256", "cd" * 32],
            {},
            Settings(model_dir="d", model_name="n", expected_sha256="cd" * 32, grpc_port=8081),
        ),
    ],
    ids=["all-from-env", "flags-win-over-env", "defaults"],
)
def test_settings_from_flags_and_environment(argv, environ, expected):
    assert parse_settings(argv, environ) == expected


def test_settings_reject_bad_values(capsys):
    with pytest.raises(SystemExit):
        parse_settings(["--max-batch-rows", "0"], ENV)
    assert "must be >= 1" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="--model-name"):
        parse_settings([], {k: v for k, v in ENV.items() if k != "MODELPILOT_MODEL_NAME"})


def test_no_app_is_built_at_import_time():
    import modelpilot.serving.app as app_module

    assert not any(type(v).__name__ == "FastAPI" for v in vars(app_module).values())


def test_not_ready_until_the_model_is_loaded(iris_bundle):
    import asyncio

    app = create_app(iris_bundle.settings())

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            before = (await client.get("/v2/health/ready")).status_code
            live = (await client.get("/v2/health/live")).status_code
            predict = await client.post(
                "/v1/models/iris:predict", json={"instances": [[1, 2, 3, 4]]}
            )
            async with app.router.lifespan_context(app):  # loads the model
                after = (await client.get("/v2/health/ready")).status_code
        return before, live, predict, after

    before, live, predict, after = asyncio.run(scenario())
    assert (before, live, after) == (503, 200, 200)
    assert predict.status_code == 503
    assert predict.json()["type"] == "model_not_ready"


def test_a_bundle_of_another_model_deployment_refuses_to_start(iris_bundle, tmp_path):
    # Same digest, but trained for another ModelDeployment uid (a re-created object's
    # predecessor): the operator passes its uid, and the binding is checked at load.
    path = copy_bundle(iris_bundle, tmp_path)
    metadata = json.loads((path / METADATA_FILE).read_text())
    metadata["owner_uid"] = "old-uid"
    (path / METADATA_FILE).write_text(json.dumps(metadata))
    args = (
        "--model-dir",
        str(path),
        "--model-name",
        "iris",
        "--expected-sha256",
        iris_bundle.sha256,
        "--port",
        "0",
    )
    result = serve(*args, "--expected-owner-uid", "new-uid")
    assert result.returncode == 1
    assert "BundleNotBound" in result.stderr and "old-uid" in result.stderr
    from modelpilot.serving.model import SklearnModel

    model = SklearnModel(
        name="iris", model_dir=str(path), expected_sha256=iris_bundle.sha256, owner_uid="old-uid"
    )
    model.load()
    assert model.ready


def test_category_values_on_metrics_are_opt_in():
    base = ["--model-dir", "/m", "--model-name", "iris", "--expected-sha256", "a" * 64]
    assert parse_settings(base, {}).publish_category_values is False
    assert parse_settings([*base, "--publish-category-values"], {}).publish_category_values
    assert parse_settings(
        base, {"MODELPILOT_PUBLISH_CATEGORY_VALUES": "true"}
    ).publish_category_values
