#!/usr/bin/env python3
"""`make demo`: the iris example from `kubectl apply` to a promoted canary, on the local cluster.

Installs the CRD and RBAC with kubectl, runs the operator as its own ServiceAccount (a token
from `kubectl create token`, so the RBAC in manifests/rbac is what is exercised), applies
examples/iris/ to a fresh namespace and follows it to Ready (train, gate, serve). Then it
applies examples/canary/ — the same model with canary steps — and, while a small load
generator sends real predictions to the serving pods, follows v2 through training, the gate,
each canary step and its live analysis windows, to promotion. It ends with a real prediction
from the served model and `kubectl get mdep`. `make cluster-up` has run before.

    python hack/demo.py [--runs N] [--keep-operator] [--no-canary]

With --runs N it repeats the apply -> Ready walk N times (fresh namespace each time) and
prints the p50 of apply -> Job created and apply -> Ready.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MODELPILOT_CACHE", Path.home() / ".cache" / "modelpilot"))
VERSIONS = dict(
    line.split("=", 1)
    for line in (REPO / "hack/k8s/versions.env").read_text().split()
    if "=" in line
)
KUBECTL = CACHE / "k8s" / VERSIONS["K8S_VERSION"] / "bin" / "kubectl"
# The cluster `make cluster-up` started: the default one, or MODELPILOT_CLUSTER_INDEX=N's
# (hack/localcluster), so a demo can run beside a test session's cluster.
_INDEX = int(os.environ.get("MODELPILOT_CLUSTER_INDEX") or 0)
CLUSTER_DIR = CACHE / ("cluster" if _INDEX == 0 else f"cluster-{_INDEX}")
ADMIN_KUBECONFIG = CLUSTER_DIR / "kubeconfig"
DEMO_DIR = CACHE / ("demo" if _INDEX == 0 else f"demo-{_INDEX}")
NAMESPACE = "modelpilot-demo"
SYSTEM_NAMESPACE = "modelpilot-system"
SERVICE_ACCOUNT = "modelpilot-operator"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]

BOLD, DIM, GREEN, RESET = "\033[1m", "\033[2m", "\033[32m", "\033[0m"
if not sys.stdout.isatty():
    BOLD = DIM = GREEN = RESET = ""


def say(text: str) -> None:
    print(f"{BOLD}==> {text}{RESET}", flush=True)


def kubectl(
    *args: str, stdin: str | None = None, check: bool = True, kubeconfig: Path = ADMIN_KUBECONFIG
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(KUBECTL), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    if check and result.returncode != 0:
        sys.exit(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
    return result


def get_json(*args: str) -> dict:
    return json.loads(kubectl(*args, "-o", "json").stdout)


def install() -> None:
    say("installing the CRD and RBAC with kubectl")
    kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        str(REPO / "manifests/crd/modelpilot.dev_modeldeployments.yaml"),
    )
    kubectl(
        "wait",
        "--for=condition=Established",
        "crd/modeldeployments.modelpilot.dev",
        "--timeout=60s",
    )
    kubectl("create", "namespace", SYSTEM_NAMESPACE, check=False)
    kubectl("apply", "-k", str(REPO / "manifests/rbac"))
    print(
        f"   CRD modeldeployments.modelpilot.dev, ServiceAccount {SYSTEM_NAMESPACE}/"
        f"{SERVICE_ACCOUNT} and its ClusterRoles"
    )


def operator_kubeconfig() -> Path:
    """A kubeconfig that authenticates as the operator's ServiceAccount, not as admin."""
    admin = get_json("config", "view", "--raw", "--minify")
    cluster = admin["clusters"][0]["cluster"]
    token = kubectl(
        "create", "token", SERVICE_ACCOUNT, "-n", SYSTEM_NAMESPACE, "--duration=2h"
    ).stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
        "contexts": [
            {"name": "operator", "context": {"cluster": "local", "user": SERVICE_ACCOUNT}}
        ],
        "current-context": "operator",
    }
    path = DEMO_DIR / "operator.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def start_operator() -> subprocess.Popen[bytes]:
    pid_file = DEMO_DIR / "operator.pid"
    if pid_file.exists():  # a demo operator left from an interrupted run
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
            time.sleep(1)
        except (ProcessLookupError, ValueError):
            pass
    say("starting the operator (python -m modelpilot.operator) as the ServiceAccount")
    env = {
        **os.environ,
        "KUBECONFIG": str(operator_kubeconfig()),
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    log = open(DEMO_DIR / "operator.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelpilot.operator"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    pid_file.write_text(str(proc.pid))
    print(f"   pid {proc.pid}, log {DEMO_DIR / 'operator.log'}")
    return proc


def fresh_namespace() -> None:
    if kubectl("get", "namespace", NAMESPACE, check=False).returncode == 0:
        kubectl("delete", "namespace", NAMESPACE, "--wait=true", "--timeout=120s")
    kubectl("create", "namespace", NAMESPACE)
    deadline = time.monotonic() + 30
    while kubectl("get", "serviceaccount", "default", "-n", NAMESPACE, check=False).returncode != 0:
        if time.monotonic() > deadline:
            sys.exit("the default ServiceAccount never appeared")
        time.sleep(0.2)


def walk(*, verbose: bool, timeout: float = 300) -> dict[str, float]:
    """Apply the example and follow it to Ready; returns the measured figures."""
    fresh_namespace()
    if verbose:
        say(f"kubectl apply -n {NAMESPACE} -f examples/iris/")
    t0 = time.monotonic()
    out = kubectl("apply", "-n", NAMESPACE, "-f", str(REPO / "examples/iris")).stdout
    if verbose:
        print("   " + out.strip().replace("\n", "\n   "))
    figures: dict[str, float] = {}
    seen: set[str] = set()
    while time.monotonic() - t0 < timeout:
        elapsed = time.monotonic() - t0
        if (
            "job" not in figures
            and kubectl("get", "job", "iris-train-v1", "-n", NAMESPACE, check=False).returncode == 0
        ):
            figures["job"] = elapsed
            if verbose:
                print(f"   {elapsed:5.1f}s  Job iris-train-v1 created")
        md = get_json("get", "mdep", "iris", "-n", NAMESPACE)
        status = md.get("status") or {}
        for line in _progress_lines(status):
            if line not in seen:
                seen.add(line)
                if verbose:
                    print(f"   {elapsed:5.1f}s  {line}")
        ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
        if ready.get("status") == "True":
            figures["ready"] = time.monotonic() - t0
            return figures
        stalled = next((c for c in status.get("conditions", []) if c["type"] == "Stalled"), {})
        if stalled.get("status") == "True":
            sys.exit(f"the demo stalled: {stalled.get('message')}")
        time.sleep(0.2)
    sys.exit(f"not Ready after {timeout}s; see {DEMO_DIR / 'operator.log'}")


def _progress_lines(status: dict) -> list[str]:
    lines = []
    if status.get("phase"):
        lines.append(f"phase {status['phase']}")
    candidate = status.get("candidate") or {}
    if candidate.get("verdict"):
        lines.append(f"gate: {candidate.get('message')}")
    for c in status.get("conditions", []):
        if c["type"] == "Reconciling" and c["status"] == "True":
            lines.append(c["message"])
        if c["type"] == "Evaluated" and c["status"] != "Unknown":
            lines.append(f"Evaluated={c['status']}: {c['message']}")
    return lines


class Traffic(threading.Thread):
    """Real predictions, spread the way Service `iris` spreads them: one request to each
    Ready serving pod in turn, so the replicas router's pod counts are the traffic weights.
    Bounded: it stops by itself after `limit_seconds`, and only ever talks to pod IPs."""

    def __init__(self, *, limit_seconds: float = 300) -> None:
        super().__init__(daemon=True)
        self.served: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.halt = threading.Event()
        self.limit_seconds = limit_seconds

    def run(self) -> None:
        body = json.dumps({"instances": ROWS[:1]}).encode()
        pods: list[tuple[str, str]] = []
        refresh_at = start = time.monotonic()
        while not self.halt.is_set() and time.monotonic() - start < self.limit_seconds:
            if time.monotonic() >= refresh_at:
                pods = ready_serving_pods()
                refresh_at = time.monotonic() + 0.5
            for ip, version in pods:
                request = urllib.request.Request(
                    f"http://{ip}:8080/v1/models/iris:predict",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=5) as response:
                        self.served[response.headers.get("modelpilot-model-version", "?")] += 1
                except OSError:
                    self.failed[version] += 1
            time.sleep(0.03)


def ready_serving_pods() -> list[tuple[str, str]]:
    """(pod IP, revision) of every Ready serving pod of iris that is not terminating."""
    selector = "modelpilot.dev/model=iris,modelpilot.dev/component=serving"
    pods = get_json("get", "pods", "-n", NAMESPACE, "-l", selector)["items"]
    out = []
    for pod in pods:
        conditions = pod.get("status", {}).get("conditions") or []
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        if ready and pod["status"].get("podIP") and not pod["metadata"].get("deletionTimestamp"):
            revision = pod["metadata"]["labels"].get("modelpilot.dev/revision", "?")
            out.append((pod["status"]["podIP"], revision))
    return out


def canary_walk(*, timeout: float = 300) -> dict[str, float]:
    """Apply the canary example over the serving v1 and follow v2 to promotion."""
    say(f"kubectl apply -n {NAMESPACE} -f examples/canary/   (same model, now with canary steps)")
    traffic = Traffic()
    traffic.start()
    t0 = time.monotonic()
    out = kubectl("apply", "-n", NAMESPACE, "-f", str(REPO / "examples/canary")).stdout
    print("   " + out.strip().replace("\n", "\n   "))
    print(f"   {DIM}a load generator sends predictions to every Ready serving pod in turn{RESET}")
    seen: set[str] = set()
    figures: dict[str, float] = {}
    try:
        while time.monotonic() - t0 < timeout:
            elapsed = time.monotonic() - t0
            status = get_json("get", "mdep", "iris", "-n", NAMESPACE).get("status") or {}
            for line in _progress_lines(status) + _canary_lines(status):
                if line not in seen:
                    seen.add(line)
                    print(f"   {elapsed:5.1f}s  {line}")
            stable = (status.get("stable") or {}).get("revision")
            if stable == "v2" and status.get("phase") == "Serving":
                figures["promoted"] = elapsed
                break
            if status.get("phase") in {"RolledBack", "Rejected", "Failed"}:
                sys.exit(
                    f"the canary did not promote: phase {status.get('phase')}; "
                    f"see `modelpilot status iris -n {NAMESPACE}`"
                )
            time.sleep(0.3)
        else:
            sys.exit(f"v2 not promoted after {timeout}s; see {DEMO_DIR / 'operator.log'}")
        time.sleep(1)  # a last second of traffic on v2 alone
    finally:
        traffic.halt.set()
        traffic.join(timeout=10)
    served = ", ".join(f"{v}: {n}" for v, n in sorted(traffic.served.items()))
    failed = sum(traffic.failed.values())
    print(
        f"   traffic during the rollout: {served}; failed requests: {failed}"
        + (f" {dict(traffic.failed)}" if failed else "")
    )
    return figures


def _canary_lines(status: dict) -> list[str]:
    """Each analysis window once (the step and weights are in the Reconciling message)."""
    windows = (((status.get("canary") or {}).get("analysis")) or {}).get("windows") or []
    return [f"analysis {w.get('verdict')}: {w.get('message')}" for w in windows]


def predict() -> None:
    stable = (get_json("get", "mdep", "iris", "-n", NAMESPACE).get("status") or {}).get("stable")
    pods = ready_serving_pods()
    # The old version's pods may still be draining right after a promotion: ask stable's.
    ip = next((ip for ip, rev in pods if rev == (stable or {}).get("revision")), None)
    if ip is None:
        sys.exit("no Ready serving pod of the stable revision to ask")
    url = f"http://{ip}:8080/v1/models/iris:predict"
    body = json.dumps({"instances": ROWS})
    say("a real prediction from the served model")
    print(f"   curl -s {url} -d '{body}'")
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        version = response.headers.get("modelpilot-model-version", "?")
        print(f"   {GREEN}{response.read().decode()}{RESET}   (served by {version})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="repeat apply -> Ready N times")
    parser.add_argument(
        "--no-canary", action="store_true", help="stop once v1 serves (skip the canary act)"
    )
    parser.add_argument(
        "--keep-operator",
        action="store_true",
        help="leave the operator running (try `modelpilot retrain iris`)",
    )
    args = parser.parse_args(argv)
    if not ADMIN_KUBECONFIG.exists():
        sys.exit("no local cluster: run `make cluster-up` first")
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    install()
    operator = start_operator()
    try:
        runs = []
        for i in range(args.runs):
            if args.runs > 1:
                say(f"run {i + 1}/{args.runs}")
            runs.append(walk(verbose=args.runs == 1 or i == 0))
        canary = {} if args.no_canary else canary_walk()
        say("modelpilot status iris")
        env = {**os.environ, "KUBECONFIG": str(ADMIN_KUBECONFIG)}
        subprocess.run(
            [sys.executable, "-m", "modelpilot.cli", "status", "iris", "-n", NAMESPACE],
            env=env,
            check=False,
        )
        predict()
        say(f"kubectl get mdep -n {NAMESPACE}")
        print(kubectl("get", "mdep", "-n", NAMESPACE).stdout.rstrip())
        job = statistics.median(r["job"] for r in runs)
        ready = statistics.median(r["ready"] for r in runs)
        say(
            f"apply -> training Job created: {job:.2f}s   apply -> Ready: {ready:.1f}s"
            + (
                f"   (p50 of {len(runs)} runs: "
                + ", ".join(f"{r['ready']:.1f}s" for r in runs)
                + ")"
                if len(runs) > 1
                else ""
            )
            + (f"   canary apply -> promoted: {canary['promoted']:.1f}s" if canary else "")
        )
    finally:
        if args.keep_operator:
            print(
                f"{DIM}operator still running (pid {operator.pid}); stop it with "
                f"kill {operator.pid}{RESET}"
            )
        else:
            operator.terminate()
            operator.wait(timeout=15)
            (DEMO_DIR / "operator.pid").unlink(missing_ok=True)
    print(
        f"{DIM}the model keeps serving in namespace {NAMESPACE}; `make cluster-down` stops "
        f"the cluster{RESET}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
