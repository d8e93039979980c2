"""The inference service: what the routes call, with everything a request needs in one place.

It owns the model, the feature layout, the micro-batcher and the metrics for one app, and
the two flags probes read (`ready`, `draining`). Routes stay thin: read the body, call one
method here, wrap the bytes in a response.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from modelpilot.api.names import HEADER_MODEL_SHA256, HEADER_MODEL_VERSION

from . import codec, request_ids, v1, v2, v2_metadata
from .batching import MicroBatcher
from .drift import DriftCounter
from .errors import ModelNotFound, ModelNotReady, ServingError
from .features import FeatureLayout
from .feedback import RecentPredictions, parse_feedback
from .metrics import ServingMetrics
from .model import Prediction, SklearnModel
from .prediction_log import LoggedLabel, LoggedRequest, PredictionLog
from .settings import Settings

log = logging.getLogger("modelpilot.serving")


class Reply(NamedTuple):
    content: bytes
    header_length: int | None  # the JSON header's length when outputs are binary
    request_id: str  # returned as X-Request-Id


class InferenceService:
    def __init__(self, settings: Settings, model: SklearnModel | None = None) -> None:
        self.settings = settings
        self.model = model or SklearnModel(
            name=settings.model_name,
            model_dir=settings.model_dir,
            expected_sha256=settings.expected_sha256,
            version=settings.model_version,
            owner_uid=settings.owner_uid,
        )
        self.name = settings.model_name
        self.draining = False
        self.response_headers: list[tuple[bytes, bytes]] = []
        self.layout: FeatureLayout | None = None
        self.metrics: ServingMetrics | None = None
        self.batcher: MicroBatcher | None = None
        self._v2_metadata: bytes = b""
        self.v2_metadata_fields: dict[str, Any] = {}  # the same, for the gRPC binding
        # Ground truth: recent predictions by request id, and the sampled prediction log
        # (None unless --prediction-log-dir).
        self.recent = RecentPredictions(settings.feedback_memory)
        self.prediction_log: PredictionLog | None = None
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the model if the caller has not (readiness stays false until then)."""
        if not self.model.ready:
            await asyncio.to_thread(self.model.load)
        model = self.model
        self.layout = FeatureLayout.from_schema(
            model.features, max_rows=self.settings.max_batch_rows
        )
        reference = model.metadata.drift_reference
        drift = (
            None
            if reference is None
            else DriftCounter(
                reference,
                self.layout.names,
                model=self.name,
                version=model.version,
                category_values=self.settings.publish_category_values,
            )
        )
        self.metrics = ServingMetrics(
            model=self.name,
            version=model.version,
            task=model.task,
            classes=model.classes,
            drift=drift,
        )
        self.batcher = MicroBatcher(
            self._predict_and_count,
            max_batch_rows=self.settings.max_batch_rows,
            max_wait_s=self.settings.batch_wait_ms / 1000.0,
            max_queued=self.settings.max_queued_requests,
        )
        await self.batcher.start()
        if self.settings.prediction_log_dir is not None:
            self.prediction_log = PredictionLog(
                directory=Path(self.settings.prediction_log_dir),
                layout=self.layout,
                revision=model.version,
                pod=self.settings.pod_name,
                max_buffered_rows=self.settings.log_max_buffered_rows,
                flush_seconds=self.settings.log_flush_seconds,
            )
            self.metrics.watch_prediction_log(self.prediction_log)
            self.prediction_log.start()
        self.response_headers = [
            (HEADER_MODEL_VERSION.encode(), model.version.encode()),
            (HEADER_MODEL_SHA256.encode(), model.sha256.encode()),
        ]
        self.v2_metadata_fields = v2_metadata.model_metadata(
            name=self.name,
            version=model.version,
            layout=self.layout,
            classes=model.classes,
            prediction_datatype=self._prediction_datatype(),
            has_proba=model.has_proba,
            task=model.task,
            sha256=model.sha256,
        )
        self._v2_metadata = codec.encode(self.v2_metadata_fields)
        self._started = True

    async def stop(self) -> None:
        self.draining = True
        if self.batcher is not None:
            await self.batcher.stop()
            if self.prediction_log is not None:
                await asyncio.to_thread(self.prediction_log.stop)
            stats = self.batcher.stats
            log.info(
                "served %d prediction requests in %d batches (largest %d requests): %s",
                stats.requests,
                stats.batches,
                stats.largest_batch_requests,
                dict(sorted(stats.sizes.items())),
            )

    def begin_drain(self) -> None:
        """SIGTERM: readiness goes false; requests are still answered."""
        self.draining = True

    @property
    def ready(self) -> bool:
        return self._started and self.model.ready and not self.draining

    # -- requests --------------------------------------------------------------------------

    def check_name(self, name: str) -> None:
        if name != self.name:
            raise ModelNotFound(f"no model named {name!r} here; this server serves {self.name!r}")

    def check_version(self, version: str) -> None:
        if self._started and version != self.model.version:
            raise ModelNotFound(
                f"model {self.name!r} has no version {version!r}; it serves {self.model.version!r}"
            )

    @contextmanager
    def observe(self, protocol: str) -> Iterator[None]:
        """Count the request and its latency under the status code it ends with."""
        start = time.perf_counter()
        code = 500
        try:
            yield
            code = 200
        except ServingError as exc:
            code = exc.status_code
            raise
        finally:
            if self.metrics is not None:
                self.metrics.observe_request(protocol, code, time.perf_counter() - start)

    async def v1_predict(self, body: bytes) -> bytes:
        return (await self.infer_v1(body)).content

    async def infer_v1(self, body: bytes, header_id: bytes | str | None = None) -> Reply:
        """A V1 predict; its request id is the X-Request-Id header's, or a new one."""
        layout, batcher = self._serving()
        request_id = request_ids.choose(header_id, None)
        request = v1.parse_predict(body, layout, has_proba=self.model.has_proba)
        result = await batcher.predict(request.features, proba=request.proba)
        self.remember(request_id, request.features, result)
        return Reply(v1.render_predict(result.predictions, result.probabilities), None, request_id)

    async def v2_infer(
        self, body: bytes, header_length: int | None = None
    ) -> tuple[bytes, int | None]:
        """(response body, its JSON header's length when outputs are binary, else None);
        `header_length` is the request's Inference-Header-Content-Length, if any."""
        reply = await self.infer_v2(body, header_length)
        return reply.content, reply.header_length

    async def infer_v2(
        self, body: bytes, header_length: int | None = None, header_id: bytes | str | None = None
    ) -> Reply:
        """A V2 infer; its request id is the body's `id`, else the X-Request-Id header's,
        else a new one, and the response's `id` is always that id."""
        layout, _ = self._serving()
        request = v2.parse_infer(
            body, layout, has_proba=self.model.has_proba, header_length=header_length
        )
        request_id = request_ids.choose(header_id, request.id)
        result = await self.predict(request)
        self.remember(request_id, request.features, result)
        content, json_length = v2.render_infer(
            model_name=self.name,
            model_version=self.model.version,
            request_id=request_id,
            outputs=request.outputs,
            predictions=result.predictions,
            probabilities=result.probabilities,
            binary_outputs=request.binary_outputs,
        )
        return Reply(content, json_length, request_id)

    def feedback(self, body: bytes) -> bytes:
        """Labels by request id (feedback.py): joined, counted, and logged when logging is on."""
        self._serving()
        items = parse_feedback(body, task=self.model.task, classes=self.model.classes)
        joined = self.recent.join(items)
        assert self.metrics is not None
        self.metrics.observe_feedback(joined)
        if self.prediction_log is not None:
            now = time.time()
            self.prediction_log.offer_labels(
                [
                    LoggedLabel(item.request_id, row, label, now)
                    for item in joined
                    for row, label in enumerate(item.labels)
                ]
            )
        rows = sum(len(item.labels) for item in joined)
        return codec.encode({"accepted": len(joined), "rows": rows})

    async def predict(self, request: v2.InferRequest) -> Prediction:
        """A parsed V2 request through the micro-batcher (HTTP and gRPC alike)."""
        _, batcher = self._serving()
        return await batcher.predict(request.features, proba=request.proba)

    def v2_metadata(self) -> bytes:
        self._serving()
        return self._v2_metadata

    def feature_layout(self) -> FeatureLayout:
        return self._serving()[0]

    def render_metrics(self) -> bytes:
        return self.metrics.render() if self.metrics is not None else b""

    # -- internals -------------------------------------------------------------------------

    def remember(self, request_id: str, features: Any, result: Prediction) -> None:
        """Keep the prediction for a label to come, and log the request when sampled."""
        self.recent.remember(request_id, result.predictions)
        log = self.prediction_log
        if log is not None and request_ids.sampled(request_id, self.settings.log_sample_rate):
            log.offer(LoggedRequest(request_id, time.time(), features, result.predictions))

    def _serving(self) -> tuple[FeatureLayout, MicroBatcher]:
        if self.layout is None or self.batcher is None:
            raise ModelNotReady(f"model {self.name!r} is not loaded yet")
        return self.layout, self.batcher

    def _predict_and_count(self, features, proba: bool) -> Prediction:  # type: ignore[no-untyped-def]
        result = self.model.predict(features, proba=proba)
        if self.metrics is not None:
            self.metrics.observe_predictions(result.predictions)
            if self.metrics.drift is not None:
                self.metrics.drift.count(features)
        return result

    def _prediction_datatype(self) -> str:
        classes = self.model.classes
        if self.model.task == "classification" and classes:
            sample = classes[0]
            if isinstance(sample, bool):
                return "BOOL"
            if isinstance(sample, int):
                return "INT64"
            if isinstance(sample, float):
                return "FP64"
            return "BYTES"
        return "FP64"
