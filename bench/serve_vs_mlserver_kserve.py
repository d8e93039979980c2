"""Benchmark: `modelpilot serve` side by side with MLServer (+mlserver-sklearn) and KServe.

Same machine, same model file, one server process each, same closed-loop load generator
(wrk from Debian), only to 127.0.0.1. Every repeat restarts all servers (measuring cold
start: process start to first successful predict) and then runs every case against every
server, rotating the server order per case and per repeat so drift on a shared machine
hits them alike. Medians over the repeats, ratios against the best of the other two.

Cases, for each model (iris RandomForest with 100 trees; HistGradientBoosting on 50
features) and each protocol (KServe V1 `instances`, Open Inference V2 tensors):
single-row requests at concurrency 1, 8 and 32, and 32-row requests at concurrency 8.
MLServer speaks only V2, so it has no V1 figures. Then the ecosystem clients' defaults:
`v2-bin` (the binary tensor data extension: an FP32 tensor's raw bytes after the JSON
header, binary outputs back) against `v2-fp32` (the same FP32 tensor as JSON), 32 rows at
concurrency 8; and `grpc` (OIP ModelInfer with raw_input_contents, one HTTP/2 connection,
driven by ghz), one row at concurrency 8 and 32. MLServer does not implement the binary
extension over REST, so it has no v2-bin figures.

Fairness: with two or more cores, every server runs pinned to core 0 (`taskset -c 0`) and
wrk to core 1; all servers get OMP_NUM_THREADS=1 (one core each anyway); each server keeps
its defaults otherwise (MLServer with parallel_workers=0, i.e. inference in its one process;
KServe with --workers 1, gRPC off, its default access/latency logging on).

MLServer and KServe pin versions that conflict with this project, so each lives in its own
venv under ${MODELPILOT_CACHE:-~/.cache/modelpilot}/bench/, created on first run with the
same scikit-learn/joblib/numpy as the project so all three load the very same model.joblib.
KServe's sklearn server is not on PyPI (it ships as an image): `serve_kserve_sklearn.py`
beside this file rebuilds it from the `kserve` package. If a venv cannot be created the
reason is printed and the comparison goes on with what runs.

    .venv/bin/python bench/serve_vs_mlserver_kserve.py [--duration 4] [--repeats 3]
        [--servers modelpilot,mlserver,kserve] [--models iris_rf,hgb50]
        [--protocols v1,v2,v2-fp32,v2-bin,grpc] [--json OUT]

    # the cost of drift counting: the same server with and without the drift reference
    .venv/bin/python bench/serve_vs_mlserver_kserve.py --servers modelpilot,modelpilot-nodrift

    # the cost of prediction logs: every request logged to Parquet vs none
    .venv/bin/python bench/serve_vs_mlserver_kserve.py --servers modelpilot-logging,modelpilot

The gRPC load generator is ghz (a Go module), installed on first use into the bench cache
with `go install github.com/bojand/ghz/cmd/ghz@v0.120.0`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MODELPILOT_CACHE", Path.home() / ".cache" / "modelpilot")) / "bench"
PROJECT_PYTHON = Path(sys.executable)
SAME_LIBS = ["scikit-learn==1.9.1", "joblib==1.6.0", "numpy==2.4.6"]
VENVS = {
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", *SAME_LIBS],
    "kserve": ["kserve==0.21.0", *SAME_LIBS],
}
SERVERS = ("modelpilot", "mlserver", "kserve")
# Not run by default: modelpilot on the same model.joblib with no drift reference in its
# metadata, so `--servers modelpilot,modelpilot-nodrift` shows the cost of counting live
# inputs into the drift bins (the ratio column then reads drift-on vs drift-off).
NODRIFT = "modelpilot-nodrift"
# Not run by default either: modelpilot logging every request (sample rate 1) to Parquet
# files in the bench cache, so `--servers modelpilot,modelpilot-logging` shows the cost of
# spec.monitoring.logging at its most expensive (issue 25 §1: at most 5 % of requests/s).
LOGGING = "modelpilot-logging"
ALL_PROTOCOLS = ("v1", "v2", "v2-fp32", "v2-bin", "grpc")
PROTOCOLS = {
    "modelpilot": ALL_PROTOCOLS,
    "mlserver": ("v2", "v2-fp32", "grpc"),
    "kserve": ALL_PROTOCOLS,
    NODRIFT: ALL_PROTOCOLS,
    LOGGING: ALL_PROTOCOLS,
}
# (label, rows per request, concurrency)
LOADS = (("1 row c=1", 1, 1), ("1 row c=8", 1, 8), ("1 row c=32", 1, 32), ("32 rows c=8", 32, 8))
PROTOCOL_LOADS = {
    "v1": LOADS,
    "v2": LOADS,
    "v2-fp32": (("32 rows c=8", 32, 8),),
    "v2-bin": (("32 rows c=8", 32, 8),),
    "grpc": (("1 row c=8", 1, 8), ("1 row c=32", 1, 32)),
}
GHZ_VERSION = "v0.120.0"
PROTO = ROOT / "serving" / "modelpilot" / "serving" / "oip" / "open_inference.proto"
BINARY_HEADER = "Inference-Header-Content-Length"


# -- models ---------------------------------------------------------------------------------


@dataclass
class Model:
    name: str
    estimator: Any
    X: np.ndarray
    bundle: Path
    sha256: str


def build_models(names: list[str]) -> list[Model]:
    import pandas as pd
    from sklearn.datasets import load_iris, make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    from modelpilot.api.bundle import (
        BundleMetadata,
        FeatureSchema,
        running_versions,
        write_bundle,
    )
    from modelpilot.trainer.reference import reference_of

    out = []
    for name in names:
        if name == "iris_rf":
            X, y = load_iris(return_X_y=True)
            estimator = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
        elif name == "hgb50":
            X, y = make_classification(
                n_samples=5000, n_features=50, n_informative=20, random_state=0
            )
            estimator = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(X, y)
        else:
            raise SystemExit(f"unknown model {name}")
        target = CACHE / "models" / name / "v1"
        shutil.rmtree(target, ignore_errors=True)
        metadata = write_bundle(
            estimator,
            BundleMetadata(
                name=name.replace("_", "-"),
                namespace="bench",
                revision="v1",
                created_at=datetime.datetime.now(datetime.UTC).isoformat(),
                task="classification",
                estimator=type(estimator).__name__,
                features=FeatureSchema(
                    names=[f"f{i}" for i in range(X.shape[1])], dtypes=["float64"] * X.shape[1]
                ),
                classes=estimator.classes_.tolist(),
                training_data_sha256="0" * 64,
                holdout_sha256="0" * 64,
                metrics={},
                versions=running_versions(),
                drift_reference=reference_of(
                    pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
                ),
            ),
            target,
        )
        # The same model without the drift reference (metadata.json is not under the digest).
        nodrift = target.parent / "v1-nodrift"
        shutil.rmtree(nodrift, ignore_errors=True)
        shutil.copytree(target, nodrift)
        (nodrift / "metadata.json").write_text(
            metadata.model_copy(update={"drift_reference": None}).model_dump_json(indent=2)
        )
        out.append(Model(name.replace("_", "-"), estimator, X, target, metadata.model_sha256))
    return out


# -- venvs for the other servers ------------------------------------------------------------


def ensure_venv(server: str) -> tuple[Path | None, str]:
    """The venv's python, or None and why not."""
    venv = CACHE / f"venv-{server}"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    wanted = " ".join(VENVS[server])
    if marker.is_file() and marker.read_text() == wanted:
        return python, ""
    log = CACHE / f"install-{server}.log"
    print(f"# creating {venv} ({wanted}); log in {log}", flush=True)
    with open(log, "w") as out:
        # The project's interpreter is a venv itself: create the new one from its base.
        base = getattr(sys, "_base_executable", sys.executable)
        steps = [
            [base, "-m", "venv", "--clear", str(venv)],
            [str(python), "-m", "pip", "install", "-q", *VENVS[server]],
        ]
        for step in steps:
            result = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, timeout=1200)
            if result.returncode != 0:
                tail = log.read_text().strip().splitlines()[-3:]
                return None, f"{' '.join(step[:4])}... failed: {' | '.join(tail)}"
    marker.write_text(wanted)
    return python, ""


# -- servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Running:
    server: str
    model: Model
    port: int
    process: subprocess.Popen[bytes]
    grpc_port: int = 0
    cold_start_s: float = float("nan")
    log: Path = field(default_factory=Path)

    def url(self, protocol: str) -> str:
        name = self.model.name
        base = f"http://127.0.0.1:{self.port}"
        if protocol == "grpc":
            return f"127.0.0.1:{self.grpc_port}"
        return (
            f"{base}/v1/models/{name}:predict"
            if protocol == "v1"
            else f"{base}/v2/models/{name}/infer"
        )


def server_command(
    server: str, model: Model, port: int, grpc_port: int, pythons: dict[str, Path]
) -> tuple[list[str], Path]:
    if server in ("modelpilot", NODRIFT, LOGGING):
        bundle = model.bundle if server != NODRIFT else model.bundle.parent / "v1-nodrift"
        logs = CACHE / "prediction-logs" / model.name
        if server == LOGGING:
            shutil.rmtree(logs, ignore_errors=True)
            logs.mkdir(parents=True)
        logging = (
            [
                "--prediction-log-dir",
                str(logs),
                "--log-sample-rate",
                "1",
                "--log-flush-seconds",
                "1",
            ]
            if server == LOGGING
            else []
        )
        return [
            str(PROJECT_PYTHON),
            "-m",
            "modelpilot.serving",
            "--model-dir",
            str(bundle),
            "--model-name",
            model.name,
            "--expected-sha256",
            model.sha256,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--grpc-port",
            str(grpc_port),
            "--log-level",
            "warning",
            *logging,
        ], ROOT
    if server == "kserve":
        return [
            str(pythons["kserve"]),
            str(ROOT / "bench" / "serve_kserve_sklearn.py"),
            "--model_file",
            str(model.bundle / "model.joblib"),
            "--model_name",
            model.name,
            "--http_port",
            str(port),
            "--workers",
            "1",
            "--enable_grpc",
            "true",
            "--grpc_port",
            str(grpc_port),
        ], ROOT
    repo = CACHE / "mlserver-repo" / model.name
    shutil.rmtree(repo, ignore_errors=True)
    (repo / model.name).mkdir(parents=True)
    (repo / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "http_port": port,
                "grpc_port": grpc_port,
                "metrics_port": free_port(),
                "parallel_workers": 0,
                "debug": False,
            }
        )
    )
    (repo / model.name / "model-settings.json").write_text(
        json.dumps(
            {
                "name": model.name,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": str(model.bundle / "model.joblib"), "version": "v1"},
            }
        )
    )
    mlserver = pythons["mlserver"].parent / "mlserver"
    return [str(mlserver), "start", str(repo)], repo


JSON_HEADERS = {"Content-Type": "application/json"}


def body_for(protocol: str, rows: np.ndarray, model: str = "") -> tuple[bytes, dict[str, str]]:
    """(request body, HTTP headers): what each protocol's usual client sends."""
    if protocol == "v1":
        return json.dumps({"instances": rows.tolist()}).encode(), JSON_HEADERS
    if protocol == "grpc":  # a serialized ModelInferRequest, as tritonclient builds it
        from modelpilot.serving.oip import open_inference_pb2 as pb

        request = pb.ModelInferRequest(model_name=model)
        request.inputs.add(name="input-0", datatype="FP64", shape=rows.shape)
        request.raw_input_contents.append(rows.astype("<f8").tobytes())
        return request.SerializeToString(), {}
    datatype, values = ("FP64", rows) if protocol == "v2" else ("FP32", rows.astype("<f4"))
    tensor: dict[str, Any] = {"name": "input-0", "shape": list(rows.shape), "datatype": datatype}
    if protocol != "v2-bin":
        tensor["data"] = values.reshape(-1).tolist()
        return json.dumps({"inputs": [tensor]}).encode(), JSON_HEADERS
    # tritonclient's and KServe's defaults: binary input, binary outputs.
    raw = values.tobytes()
    tensor["parameters"] = {"binary_data_size": len(raw)}
    header = json.dumps({"inputs": [tensor], "parameters": {"binary_data_output": True}})
    return header.encode() + raw, {
        "Content-Type": "application/octet-stream",
        BINARY_HEADER: str(len(header.encode())),
    }


def answer_of(protocol: str, content: bytes, headers: Any) -> list[Any]:
    if protocol == "grpc":
        from modelpilot.serving.oip import open_inference_pb2 as pb

        response = pb.ModelInferResponse.FromString(content)
        if response.raw_output_contents:
            dtype = {"INT64": "<i8", "INT32": "<i4", "FP64": "<f8", "FP32": "<f4"}[
                response.outputs[0].datatype
            ]
            return np.frombuffer(response.raw_output_contents[0], dtype).tolist()
        contents = response.outputs[0].contents
        for field_name in ("int64_contents", "int_contents", "fp64_contents", "fp32_contents"):
            if getattr(contents, field_name):
                return list(getattr(contents, field_name))
        return []
    length = headers.get(BINARY_HEADER)
    payload = json.loads(content[: int(length)] if length else content)
    if protocol == "v1":
        return payload["predictions"]
    output = payload["outputs"][0]
    if "data" in output:
        return np.asarray(output["data"]).reshape(-1).tolist()
    dtype = {"INT64": "<i8", "INT32": "<i4", "FP64": "<f8", "FP32": "<f4"}[output["datatype"]]
    size = output["parameters"]["binary_data_size"]
    return np.frombuffer(content[int(length) : int(length) + size], dtype).tolist()


def post(
    url: str, body: bytes, headers: dict[str, str] | None = None, timeout: float = 5
) -> tuple[bytes, Any]:
    request = urllib.request.Request(url, data=body, headers=headers or JSON_HEADERS)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read(), response.headers


def grpc_call(target: str, body: bytes, timeout: float = 5) -> bytes:
    import grpc

    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        return call(body, timeout=timeout)


def ask(
    running: Running, protocol: str, body: bytes, headers: dict[str, str], timeout: float = 5
) -> list[Any]:
    if protocol == "grpc":
        return answer_of(protocol, grpc_call(running.url(protocol), body, timeout), {})
    return answer_of(protocol, *post(running.url(protocol), body, headers, timeout))


def pin(core: int) -> list[str]:
    return (
        ["taskset", "-c", str(core)]
        if (os.cpu_count() or 1) >= 2 and shutil.which("taskset")
        else []
    )


def start(server: str, model: Model, pythons: dict[str, Path]) -> Running:
    port, grpc_port = free_port(), free_port()
    argv, cwd = server_command(server, model, port, grpc_port, pythons)
    log = CACHE / f"{server}-{model.name}.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    protocol = "v2" if server == "mlserver" else "v1"
    probe, headers = body_for(protocol, model.X[:1])
    began = time.perf_counter()
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [*pin(0), *argv],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Running(server, model, port, process, grpc_port=grpc_port, log=log)
    deadline = began + 120
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{server} exited {process.returncode}; see {log}")
        try:
            post(running.url(protocol), probe, headers, timeout=2)
            running.cold_start_s = time.perf_counter() - began
            return running
        except (urllib.error.URLError, ConnectionError, OSError, ValueError):
            time.sleep(0.02)
    stop(running)
    raise RuntimeError(f"{server} not answering after 120 s; see {log}")


def peak_rss_mb(pid: int) -> float:
    """VmHWM of the process and its descendants (MLServer/KServe may fork helpers)."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")
            )
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pids.extend(int(c) for c in children)
        except (OSError, StopIteration):
            continue
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User+system CPU of the process and its descendants: robust to a busy shared machine,
    where wall-clock figures also measure the neighbours."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pids.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, IndexError, ValueError):
            continue
    return total


def stop(running: Running) -> None:
    if running.process.poll() is None:
        os.killpg(running.process.pid, signal.SIGTERM)
        try:
            running.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait()


# -- load -----------------------------------------------------------------------------------


def load(
    protocol: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    concurrency: int,
    duration: float,
) -> tuple[float, float, int, int]:
    if protocol == "grpc":
        return ghz(url, body, concurrency=concurrency, duration=duration)
    return wrk(url, body, headers, concurrency=concurrency, duration=duration)


def wrk(
    url: str, body: bytes, headers: dict[str, str], *, concurrency: int, duration: float
) -> tuple[float, float, int, int]:
    """(requests/s, p99 ms, non-2xx responses, requests) from one wrk run."""
    script = CACHE / f"wrk-body-{os.getpid()}.lua"  # two benches at once must not mix
    lua_body = "".join(f"\\{byte}" for byte in body)  # decimal escapes: binary-safe
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = "{lua_body}"\n'
        + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    )
    argv = [
        *pin(1),
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60).stdout
    rps = p99 = float("nan")
    errors = requests = 0
    for line in output.splitlines():
        parts = line.split()
        if "requests in" in line:
            requests = int(parts[0])
        elif line.startswith("Requests/sec:"):
            rps = float(parts[1])
        elif parts[:1] == ["99%"]:
            p99 = _ms(parts[1])
        elif line.strip().startswith("Non-2xx"):
            errors += int(parts[-1])
        elif line.strip().startswith("Socket errors"):
            errors += sum(int(p.rstrip(",")) for p in parts[2:] if p.rstrip(",").isdigit())
    return rps, p99, errors, requests


def ghz_binary() -> str:
    """ghz (the gRPC load generator), built from its Go module into the bench cache."""
    binary = CACHE / "bin" / "ghz"
    if not binary.is_file():
        print(f"# installing ghz {GHZ_VERSION} into {binary.parent}", flush=True)
        subprocess.run(
            ["go", "install", f"github.com/bojand/ghz/cmd/ghz@{GHZ_VERSION}"],
            env={**os.environ, "GOBIN": str(binary.parent)},
            check=True,
            timeout=1200,
        )
    return str(binary)


def ghz(
    target: str, body: bytes, *, concurrency: int, duration: float
) -> tuple[float, float, int, int]:
    """(requests/s, p99 ms, non-OK calls, calls) from one ghz run: `concurrency` workers
    sharing one HTTP/2 connection, as one gRPC channel in a client does."""
    data = CACHE / f"ghz-body-{os.getpid()}.bin"
    data.write_bytes(body)
    argv = [
        *pin(1),
        ghz_binary(),
        "--insecure",
        "--proto",
        str(PROTO),
        "--import-paths",
        str(PROTO.parent),
        "--call",
        "inference.GRPCInferenceService.ModelInfer",
        "--binary-file",
        str(data),
        "-c",
        str(concurrency),
        "--connections",
        "1",
        "--cpus",
        "1",
        "-z",
        f"{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-O",
        "json",
        target,
    ]
    output = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    try:
        report = json.loads(output.stdout)
    except ValueError:
        raise RuntimeError(f"ghz failed: {output.stderr[-500:]}") from None
    p99 = next(
        (
            d["latency"] / 1e6
            for d in report.get("latencyDistribution") or ()
            if d["percentage"] == 99
        ),
        float("nan"),
    )
    codes = report.get("statusCodeDistribution") or {}
    errors = sum(n for code, n in codes.items() if code != "OK")
    if errors:  # ghz cancels the calls in flight when the duration ends: they show here
        print(f"# ghz: {codes} {report.get('errorDistribution')}", flush=True)
    return float(report["rps"]), p99, errors, int(report["count"])


def _ms(text: str) -> float:
    for unit, factor in (("us", 1e-3), ("ms", 1.0), ("s", 1e3), ("m", 6e4)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


# -- the protocol's own cost ---------------------------------------------------------------


def protocol_cost(rows: int = 32, features: int = 50) -> None:
    """modelpilot's parse + validate + render of one V2 request, JSON vs binary, without the
    predict or the network: the part of the CPU per request the wire format decides."""
    import timeit

    from modelpilot.api.bundle import FeatureSchema
    from modelpilot.serving import v2
    from modelpilot.serving.features import FeatureLayout

    layout = FeatureLayout.from_schema(
        FeatureSchema(names=[f"f{i}" for i in range(features)], dtypes=["float64"] * features),
        max_rows=1024,
    )
    x = np.random.default_rng(0).normal(size=(rows, features))
    predictions = np.zeros(rows, dtype=np.int64)
    bodies = {p: body_for(p, x) for p in ("v2-fp32", "v2-bin")}
    print(
        f"# protocol cost, {rows}x{features} FP32 in, {rows} INT64 out (parse, validate, "
        "render; no predict, no network), best of 5:"
    )
    for protocol, (body, headers) in bodies.items():
        length = int(headers[BINARY_HEADER]) if BINARY_HEADER in headers else None

        def one(body: bytes = body, length: int | None = length) -> None:
            request = v2.parse_infer(body, layout, has_proba=False, header_length=length)
            v2.render_infer(
                model_name="m",
                model_version="v1",
                request_id=None,
                outputs=request.outputs,
                predictions=predictions,
                probabilities=None,
                binary_outputs=request.binary_outputs,
            )

        n = 2000
        best = min(timeit.repeat(one, number=n, repeat=5)) / n * 1e6
        print(f"#   {protocol:8} {len(body):6} bytes  {best:7.1f} us", flush=True)


# -- the run --------------------------------------------------------------------------------


def main() -> int:  # noqa: C901 (a bench's flat sequence of phases, one branch per option)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--models", default="iris_rf,hgb50")
    parser.add_argument("--protocols", default=",".join(ALL_PROTOCOLS))
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install -y wrk")
    CACHE.mkdir(parents=True, exist_ok=True)

    servers = [s for s in args.servers.split(",") if s]
    pythons: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for server in servers:
        if server in VENVS:
            python, why = ensure_venv(server)
            if python is None:
                skipped[server] = why
            else:
                pythons[server] = python
    servers = [s for s in servers if s not in skipped]
    for server, why in skipped.items():
        print(f"# {server} skipped: {why}", flush=True)

    models = build_models(args.models.split(","))
    protocols = [p for p in args.protocols.split(",") if p]
    if "v2-bin" in protocols:
        protocol_cost()
    if "grpc" in protocols:
        ghz_binary()
    rng = np.random.default_rng(0)
    # results[(model, protocol, load, server)] -> list of (rps, p99 ms, server CPU us/request)
    results: dict[tuple[str, str, str, str], list[tuple[float, float, float]]] = {}
    cold: dict[tuple[str, str], list[float]] = {}
    rss: dict[tuple[str, str], list[float]] = {}
    began = time.time()
    for repeat in range(args.repeats):
        for model in models:
            order = servers[repeat % len(servers) :] + servers[: repeat % len(servers)]
            running = {}
            try:
                for server in order:  # one at a time: cold starts do not compete
                    running[server] = start(server, model, pythons)
                    cold.setdefault((model.name, server), []).append(running[server].cold_start_s)
                case = 0
                for protocol in protocols:
                    for label, n_rows, concurrency in PROTOCOL_LOADS[protocol]:
                        rows = model.X[rng.choice(len(model.X), n_rows, replace=False)]
                        body, headers = body_for(protocol, rows, model.name)
                        sent = (
                            rows.astype(np.float32) if protocol in ("v2-fp32", "v2-bin") else rows
                        )
                        expected = model.estimator.predict(sent).tolist()
                        rotation = (repeat + case) % len(order)
                        case += 1
                        for server in order[rotation:] + order[:rotation]:
                            if protocol not in PROTOCOLS[server]:
                                continue
                            target = running[server]
                            got = ask(target, protocol, body, headers)
                            if got != expected:
                                raise RuntimeError(
                                    f"{server} {protocol} answered {got}, expected {expected}"
                                )
                            url = target.url(protocol)
                            load(protocol, url, body, headers, concurrency=concurrency, duration=1)
                            cpu_before = cpu_seconds(target.process.pid)
                            rps, p99, errors, requests = load(
                                protocol,
                                url,
                                body,
                                headers,
                                concurrency=concurrency,
                                duration=args.duration,
                            )
                            cpu_us = (
                                (cpu_seconds(target.process.pid) - cpu_before)
                                / max(requests, 1)
                                * 1e6
                            )
                            if errors:
                                print(
                                    f"# {server} {model.name} {protocol} {label}: {errors} errors",
                                    flush=True,
                                )
                            results.setdefault((model.name, protocol, label, server), []).append(
                                (rps, p99, cpu_us)
                            )
                            print(
                                f"# repeat {repeat + 1} {model.name:8} {protocol:7} {label:12} "
                                f"{server:10} {rps:9.1f} req/s  p99 {p99:8.2f} ms  "
                                f"{cpu_us:7.0f} us CPU/req",
                                flush=True,
                            )
                for server, target in running.items():
                    rss.setdefault((model.name, server), []).append(peak_rss_mb(target.process.pid))
            finally:
                for target in running.values():
                    stop(target)

    report(models, servers, protocols, results, cold, rss, skipped, args, time.time() - began)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "results": {"|".join(k): v for k, v in results.items()},
                    "cold_start_s": {"|".join(k): v for k, v in cold.items()},
                    "peak_rss_mb": {"|".join(k): v for k, v in rss.items()},
                    "skipped": skipped,
                },
                indent=2,
            )
        )
    return 0


def report(models, servers, protocols, results, cold, rss, skipped, args, elapsed) -> None:  # type: ignore[no-untyped-def]
    med = statistics.median
    print()
    print(
        f"## modelpilot serve vs MLServer vs KServe — medians of {args.repeats} interleaved "
        f"repeats, {args.duration:g} s each, wrk -t1, servers on core 0, wrk on core 1 "
        f"({elapsed / 60:.1f} min)"
    )
    print()
    header = (
        "| model | proto | load | "
        + " | ".join(f"{s} req/s (p99 ms) [CPU us/req]" for s in servers)
        + " | modelpilot vs best other: req/s, p99, CPU/req |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for model in models:
        for protocol in protocols:
            for label, _, _ in PROTOCOL_LOADS[protocol]:
                cells, figures = [], {}
                for server in servers:
                    runs = results.get((model.name, protocol, label, server))
                    if not runs:
                        cells.append("n/a")
                        continue
                    rps = med(r[0] for r in runs)
                    p99 = med(r[1] for r in runs)
                    cpu = med(r[2] for r in runs)
                    figures[server] = (rps, p99, cpu)
                    cells.append(f"{rps:,.0f} ({p99:.1f}) [{cpu:,.0f}]")
                others = {s: f for s, f in figures.items() if s != "modelpilot"}
                ratio = "n/a"
                if "modelpilot" in figures and others:
                    best = max(others.values(), key=lambda f: f[0])
                    mp = figures["modelpilot"]
                    ratio = (
                        f"{mp[0] / best[0]:.1f}x, {mp[1] / best[1]:.2f}x, {mp[2] / best[2]:.2f}x"
                    )
                print(
                    f"| {model.name} | {protocol} | {label} | "
                    + " | ".join(cells)
                    + f" | {ratio} |"
                )
    if {"v2-bin", "v2-fp32"} <= set(protocols):
        print()
        print(
            "Binary vs JSON, same FP32 tensor, 32 rows c=8 — server CPU us per request "
            "(JSON -> binary):"
        )
        for model in models:
            for server in servers:
                js = results.get((model.name, "v2-fp32", "32 rows c=8", server))
                bi = results.get((model.name, "v2-bin", "32 rows c=8", server))
                if js and bi:
                    j, b = med(r[2] for r in js), med(r[2] for r in bi)
                    print(f"- {model.name} {server}: {j:,.0f} -> {b:,.0f} ({b / j:.2f}x)")
    print()
    print("| model | server | cold start s (median) | peak RSS MB (median) |")
    print("|---|---|---|---|")
    for model in models:
        for server in servers:
            c = cold.get((model.name, server))
            r = rss.get((model.name, server))
            if c:
                peak = med(r) if r else float("nan")
                print(f"| {model.name} | {server} | {med(c):.2f} | {peak:.0f} |")
    for server, why in skipped.items():
        print(f"\n{server}: not run — {why}")


if __name__ == "__main__":
    sys.exit(main())
