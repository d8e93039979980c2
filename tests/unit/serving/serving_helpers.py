"""Test helpers for the server: real bundles from real sklearn models, and the real stack
(uvicorn, uvloop, httptools) on 127.0.0.1 with a free port, in a thread."""

from __future__ import annotations

import datetime
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn

from modelpilot.api.bundle import BundleMetadata, FeatureSchema, running_versions, write_bundle
from modelpilot.serving.app import create_app
from modelpilot.serving.server import build_config
from modelpilot.serving.settings import Settings


@dataclass(frozen=True)
class Bundle:
    path: Path
    sha256: str
    estimator: Any
    X: np.ndarray
    metadata: BundleMetadata

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "model_dir": str(self.path),
            "model_name": self.metadata.name,
            "expected_sha256": self.sha256,
            "drain_seconds": 0.0,
        }
        values.update(overrides)
        return Settings(**values)


def make_bundle(
    root: Path,
    estimator: Any,
    X: np.ndarray,
    *,
    name: str,
    task: str,
    revision: str = "v1",
    feature_names: list[str] | None = None,
) -> Bundle:
    names = feature_names or [f"f{i}" for i in range(X.shape[1])]
    classes = getattr(estimator, "classes_", None)
    metadata = BundleMetadata(
        name=name,
        namespace="ml",
        revision=revision,
        created_at=datetime.datetime.now(datetime.UTC).isoformat(),
        task=task,
        estimator=f"{type(estimator).__module__}.{type(estimator).__name__}",
        features=FeatureSchema(names=names, dtypes=["float64"] * len(names)),
        classes=None if classes is None else classes.tolist(),
        training_data_sha256="0" * 64,
        holdout_sha256="0" * 64,
        metrics={},
        versions=running_versions(),
    )
    written = write_bundle(estimator, metadata, root / name / revision)
    return Bundle(
        path=root / name / revision,
        sha256=written.model_sha256,
        estimator=estimator,
        X=X,
        metadata=written,
    )


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running(settings: Settings, *, model: Any = None) -> Iterator[tuple[str, Any]]:
    """The real stack (uvloop, httptools, lifespan) in a thread; yields (base URL, app)."""
    app = create_app(settings, model)
    sock = free_socket()
    port = sock.getsockname()[1]
    config = build_config(app, settings)
    config.log_level = "warning"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
