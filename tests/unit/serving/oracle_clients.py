"""Runs the ecosystem's own clients against a `modelpilot serve`; prints what they saw as JSON.

Executed by test_serving_clients.py with the python of hack/oracles/venv.sh (kserve and
tritonclient pin versions the project cannot share a virtualenv with), so it imports nothing
from modelpilot. Every client is used with its DEFAULT settings: tritonclient and KServe's
InferInput.set_data_from_numpy send binary tensors over REST and raw contents over gRPC.

    python oracle_clients.py triton|kserve CONFIG_JSON  ->  {case: {"value": ...} | {"error": ...}}

One family per process: both register the protocol's messages (package `inference`) in
protobuf's default descriptor pool, and a second registration of the same names fails.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from typing import Any

import numpy as np


def outcome(call: Any) -> dict[str, Any]:
    try:
        value = call()
        if asyncio.iscoroutine(value):
            value = asyncio.run(value)
    except Exception as exc:  # the error type each client raises is what is checked
        status = None
        if hasattr(exc, "status") and callable(exc.status):
            status = exc.status()
        elif hasattr(exc, "code") and callable(exc.code):
            status = str(exc.code())
        elif getattr(exc, "response", None) is not None:
            status = exc.response.status_code
        return {
            "error": {
                "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "status": status,
                "message": str(exc)[:500],
                "trace": traceback.format_exc()[-1500:],
            }
        }
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return {"value": value}


def triton(config: dict[str, Any], results: dict[str, Any]) -> None:
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient

    model, rows = config["model"], np.asarray(config["rows"])
    n, width = rows.shape
    for kind, module, url in (
        ("http", httpclient, config["http"].split("//", 1)[1]),
        ("grpc", grpcclient, config["grpc"]),
    ):
        client = module.InferenceServerClient(url=url)
        p = f"triton_{kind}_"
        results[p + "live"] = outcome(client.is_server_live)
        results[p + "ready"] = outcome(client.is_server_ready)
        results[p + "model_ready"] = outcome(lambda c=client: c.is_model_ready(model))
        results[p + "server_name"] = outcome(
            lambda c=client, k=kind: (
                c.get_server_metadata()["name"] if k == "http" else c.get_server_metadata().name
            )
        )
        results[p + "model_inputs"] = outcome(
            lambda c=client, k=kind: (
                [i["name"] for i in c.get_model_metadata(model)["inputs"]]
                if k == "http"
                else [i.name for i in c.get_model_metadata(model).inputs]
            )
        )

        def infer(name="input-0", data=rows, model_name=model, m=module, c=client, **kw):
            tensor = m.InferInput(name, list(data.shape), "FP64")
            tensor.set_data_from_numpy(data.astype(np.float64), **kw)
            outputs = None
            if kw:  # JSON both ways (HTTP only: binary_data is an HTTP client option)
                outputs = [m.InferRequestedOutput("predict", **kw)]
            return c.infer(model_name, [tensor], outputs=outputs).as_numpy("predict")

        results[p + "infer"] = outcome(infer)
        if kind == "http":
            results[p + "infer_json"] = outcome(lambda f=infer: f(binary_data=False))
        results[p + "wrong_name"] = outcome(lambda f=infer: f(name="nope", data=rows[:, 0]))
        results[p + "wrong_shape"] = outcome(lambda f=infer: f(data=rows[:, : width - 1]))
        results[p + "unknown_model"] = outcome(lambda f=infer: f(model_name="nope"))
        client.close()
    del n


def kserve_clients(config: dict[str, Any], results: dict[str, Any]) -> None:  # noqa: C901 (one branch per KServe client kind)
    from kserve import (
        InferenceGRPCClient,
        InferenceRESTClient,
        InferInput,
        InferRequest,
        RESTConfig,
    )

    model, rows, base = config["model"], np.asarray(config["rows"]), config["http"]

    def request(name="input-0", data=rows, model_name=model, binary=None):
        tensor = InferInput(name, list(data.shape), "FP64")
        if binary is None:
            tensor.set_data_from_numpy(data.astype(np.float64))  # the default: binary
        else:
            tensor.set_data_from_numpy(data.astype(np.float64), binary_data=binary)
        return InferRequest(model_name=model_name, infer_inputs=[tensor])

    async def rest_v2(case: str, **kw):
        client = InferenceRESTClient(RESTConfig(protocol="v2"))
        try:
            if case == "live":
                return await client.is_server_live(base)
            if case == "ready":
                return await client.is_server_ready(base)
            if case == "model_ready":
                return await client.is_model_ready(base, model)
            req = request(**kw)
            response = await client.infer(base, req, model_name=req.model_name)
            return response.outputs[0].as_numpy().tolist()
        finally:
            await client.close()

    async def rest_v1(case: str, model_name: str = model):
        client = InferenceRESTClient(RESTConfig(protocol="v1"))
        try:
            if case == "live":
                return await client.is_server_live(base)
            if case == "model_ready":
                return await client.is_model_ready(base, model_name)
            answer = await client.infer(base, {"instances": rows.tolist()}, model_name=model_name)
            return answer["predictions"]
        finally:
            await client.close()

    async def grpc_v2(case: str, **kw):
        client = InferenceGRPCClient(url=config["grpc"])
        try:
            if case == "live":
                return await client.is_server_live()
            if case == "ready":
                return await client.is_server_ready()
            if case == "model_ready":
                return await client.is_model_ready(model)
            response = await client.infer(request(**kw))
            return response.outputs[0].as_numpy().tolist()
        finally:
            await client.close()

    width = rows.shape[1]
    for case in ("live", "ready", "model_ready", "infer"):
        results[f"kserve_rest_v2_{case}"] = outcome(lambda c=case: rest_v2(c))
        results[f"kserve_grpc_{case}"] = outcome(lambda c=case: grpc_v2(c))
    results["kserve_rest_v2_infer_json"] = outcome(lambda: rest_v2("infer", binary=False))
    for label, kw in (
        ("wrong_name", {"name": "nope", "data": rows[:, 0]}),
        ("wrong_shape", {"data": rows[:, : width - 1]}),
        ("unknown_model", {"model_name": "nope"}),
    ):
        results[f"kserve_rest_v2_{label}"] = outcome(lambda k=kw: rest_v2("infer", **k))
        results[f"kserve_grpc_{label}"] = outcome(lambda k=kw: grpc_v2("infer", **k))
    for case in ("live", "model_ready", "infer"):
        results[f"kserve_rest_v1_{case}"] = outcome(lambda c=case: rest_v1(c))
    results["kserve_rest_v1_unknown_model"] = outcome(lambda: rest_v1("infer", "nope"))


def main() -> int:
    family, config = sys.argv[1], json.loads(sys.argv[2])
    results: dict[str, Any] = {}
    {"triton": triton, "kserve": kserve_clients}[family](config, results)
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
