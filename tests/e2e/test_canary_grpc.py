"""gRPC through the Service during a canary: the Open Inference Protocol's ModelInfer reaches
both versions (the Service's `grpc` port, appProtocol grpc, spreads connections over stable's
and the canary's pods), and the live analysis counts those calls: with gRPC the only traffic,
the canary still gathers its minimum of requests per window and is promoted.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter

import grpc
import pytest
from canary_harness import CANARY, ROW, wait_canary
from kube import Kubectl, wait_for
from operator_harness import EXAMPLES, OperatorProcess, Story

from modelpilot.serving.oip import open_inference_pb2 as pb
from modelpilot.serving.oip import open_inference_pb2_grpc as pb_grpc

# The operator these scenarios drive is the chart's, in-cluster from its image (conftest.py).
pytestmark = [pytest.mark.e2e, pytest.mark.in_cluster_operator]


class GrpcLoad:
    """ModelInfer calls to ADDRESS, each on a new channel (a new TCP connection, so the
    Service spreads them as it spreads connections), counting the answering version."""

    def __init__(self, address: str, *, rate: float = 20.0) -> None:
        self.address = address
        self.interval = 1 / rate
        self.versions: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> GrpcLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        request = pb.ModelInferRequest(model_name="iris")
        tensor = request.inputs.add(name="input-0", datatype="FP64", shape=[1, 4])
        tensor.contents.fp64_contents.extend(ROW[0])
        while not self._stop.wait(self.interval):
            try:
                with grpc.insecure_channel(self.address) as channel:
                    answer = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
                        request, timeout=10
                    )
                self.versions[answer.model_version] += 1
            except grpc.RpcError as error:
                self.errors[str(error.code())] += 1


def test_grpc_through_the_service_reaches_both_versions_and_counts_in_the_analysis(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
):
    story = Story(kubectl, namespace)
    doc = copy.deepcopy(CANARY)
    doc["spec"]["serving"]["replicas"] = 2
    doc["spec"]["rollout"]["steps"] = [{"setWeight": 50}, {"pause": {"duration": "10s"}}]
    doc["spec"]["rollout"]["analysis"].update(minRequests=5, inconclusiveLimit=30)
    story.apply(EXAMPLES / "canary" / "model-store.yaml")
    story.apply(doc)
    story.wait_condition("Ready", timeout=240)

    service = kubectl.json("get", "service", "iris", "-n", namespace)
    port = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
    assert (port["appProtocol"], port["targetPort"]) == ("grpc", "grpc")

    with GrpcLoad(f"{service['spec']['clusterIP']}:{port['port']}") as load:
        wait_for(lambda: load.versions["v1"] >= 5, timeout=60, what="stable answers gRPC")
        changed = copy.deepcopy(doc)
        changed["spec"]["training"]["params"]["n_estimators"] = 25
        story.apply(changed)
        wait_canary(story, "canary at 50", lambda c: c.get("weight") == 50, timeout=300)
        wait_for(
            lambda: load.versions["v2"] >= 5,
            timeout=120,
            what=f"the canary answers gRPC through the Service ({load.versions})",
        )
        wait_for(
            lambda: (story.status().get("stable") or {}).get("revision") == "v2",
            timeout=180,
            what="v2 promoted on gRPC traffic alone",
        )
        time.sleep(1)
    print(f"gRPC answers by version: {dict(load.versions)}, errors: {dict(load.errors)}")
    assert load.versions["v1"] >= 5 and load.versions["v2"] >= 5
    history = story.status()["history"]
    assert history[-1]["outcome"] == "Promoted", history
