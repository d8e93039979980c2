"""The operator under a platform's load: N ModelDeployments on the local cluster.

    MODELPILOT_CLUSTER_INDEX=4 .venv/bin/python bench/operator_scale.py [--n 500]
        [--namespaces 5] [--rest 300] [--probes 20] [--real]

Starts the local cluster (`make cluster-up`), and, unless --real, a hollow node
(hack/nodeagent/hollow.py: pods Running/Ready without a process, training pods Succeeded
with a real trainer's termination message and bundle); the real node is tainted for the
run so every pod lands on the hollow one. With --real (N of 20-50) the real node (kubelet +
containerd) runs every trainer and server. The operator runs as a local process watching the
bench namespaces, with its /metrics on a local port.

Phase 1 applies N ModelDeployments (iris, no canary) across the namespaces and prints:
time until all are Serving; p50/p99 of apply -> training Job created under that load; then,
with all N present, p50/p99 of apply -> Job for `--probes` more applied one at a time, each
once the one before serves (the operator otherwise at rest: the figure the target names),
and for `--probes` more applied back to back (each as soon as the one before has its Job,
so earlier ones still train and deploy beside it); the operator's peak RSS; its CPU and
API requests per minute over `--rest` seconds at rest; duplicate Jobs/Deployments.
Phase 2 asks all N for a retrain and SIGKILLs the operator once half of them are Serving
again, starts a new one, and prints the same figures.
Everything the bench created is deleted at the end (the node taint too).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GROUP, VERSION, PLURAL = "modelpilot.dev", "v1alpha1", "modeldeployments"
CLUSTER_INDEX = int(os.environ.get("MODELPILOT_CLUSTER_INDEX", "0"))  # as make cluster-up's
METRICS_PORT = 18080 + CLUSTER_INDEX
# Beside the real node's 10.244.I.0/24 and the service range 10.(96+I).0.0/16 of cluster I.
HOLLOW_POD_CIDR = f"10.{245 + CLUSTER_INDEX}.0.0/16"
TAINT = "modelpilot.dev/bench=hollow:NoSchedule"
SPEC = {
    "training": {
        "dataset": {"builtin": "iris"},
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"max_iter": 200},
        "activeDeadlineSeconds": 600,
    },
    "evaluation": {"metric": "accuracy", "threshold": 0.8},
    "serving": {"replicas": 1, "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}}},
    "modelStore": {"pvc": {"claimName": "models"}},
}


def sh(
    *args: str,
    env: dict | None = None,
    check: bool = True,
    stdin: str | None = None,
    timeout: float = 600,
) -> str:
    result = subprocess.run(
        args, env=env, capture_output=True, text=True, check=False, input=stdin, timeout=timeout
    )
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])}...: {result.stderr[-2000:]}")
    return result.stdout


def cluster_up() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "hack")}
    env.pop("KUBECONFIG", None)
    out = sh(sys.executable, "-m", "localcluster", "up", env=env, timeout=900)
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in out.splitlines()
        if line.startswith("export ")
    )
    kubeconfig = exports["KUBECONFIG"]
    path = exports["PATH"].strip('"').replace("$PATH", os.environ["PATH"])
    return {**os.environ, "KUBECONFIG": kubeconfig, "PATH": path}


@dataclass
class Operator:
    env: dict[str, str]
    namespaces: list[str]
    log: Path
    proc: subprocess.Popen | None = None
    peak_rss_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        args = [sys.executable, "-m", "modelpilot.operator"]
        for ns in self.namespaces:
            args += ["-n", ns]
        env = {
            **self.env,
            "MODELPILOT_LIVENESS_ENDPOINT": f"http://127.0.0.1:{METRICS_PORT}/healthz",
            "PYTHONUNBUFFERED": "1",
        }
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
            )
        threading.Thread(target=self._sample_rss, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"the operator did not come up; see {self.log}")

    def _sample_rss(self, proc: subprocess.Popen) -> None:
        while proc.poll() is None:
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_rss_kib = max(self.peak_rss_kib, int(line.split()[1]))
            except OSError:
                return
            time.sleep(0.5)

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def api_requests(self) -> float:
        """The operator's API request count (nan when /metrics did not answer in 60 s: the
        N=500 restart run lost its whole phase 2 report to a 5 s timeout here)."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=60
            ) as response:
                text = response.read().decode()
        except OSError as exc:
            print(f"  (the operator's /metrics did not answer: {exc})", flush=True)
            return float("nan")
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("modelpilot_api_requests_total{")
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class JobWatch:
    """First time each training Job was seen (a watch, so creation is timed to ~ms)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self._proc = subprocess.Popen(
            [
                "kubectl",
                "get",
                "jobs",
                "-A",
                "-l",
                "app.kubernetes.io/managed-by=modelpilot",
                "--watch",
                "-o",
                'jsonpath={.metadata.namespace} {.metadata.name}{"\\n"}',
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            parts = line.split()
            if len(parts) == 2:
                self.seen.setdefault((parts[0], parts[1]), time.monotonic())

    def close(self) -> None:
        self._proc.terminate()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def phases(api: Api, namespaces: list[str]) -> Counter[str]:
    """Phases of the bench's ModelDeployments: one LIST through the client every poll (a
    kubectl per namespace every 2 s took a good part of a core at N=500, beside the run)."""
    out: Counter[str] = Counter()
    for item in api.objects.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]:
        if item["metadata"]["namespace"] not in namespaces:
            continue
        out[(item.get("status") or {}).get("phase", "")] += 1
        if (item.get("status") or {}).get("phase") == "Serving":
            out[f"serving:{item['status']['stable']['revision']}"] += 1
    return out


def duplicates(env: dict[str, str], namespaces: list[str]) -> tuple[int, int]:
    """(Jobs, Deployments) beyond one per model and revision, and beyond one Deployment
    per model once all serve."""
    jobs = deployments = 0
    for ns in namespaces:
        for kind, per in (("jobs", "revision"), ("deployments", None)):
            items = json.loads(
                sh(
                    "kubectl",
                    "get",
                    kind,
                    "-n",
                    ns,
                    "-o",
                    "json",
                    "-l",
                    "app.kubernetes.io/managed-by=modelpilot",
                    env=env,
                )
            )["items"]
            keys = Counter(
                (
                    i["metadata"]["labels"].get("modelpilot.dev/model"),
                    i["metadata"]["labels"].get(f"modelpilot.dev/{per}") if per else None,
                )
                for i in items
            )
            extra = sum(count - 1 for count in keys.values())
            if kind == "jobs":
                jobs += extra
            else:
                deployments += extra
    return jobs, deployments


class Api:
    """The official client: creating 500 objects with kubectl would take minutes."""

    def __init__(self, kubeconfig: str) -> None:
        from kubernetes import client, config

        self.objects = client.CustomObjectsApi(config.new_client_from_config(kubeconfig))

    def create(self, ns: str, name: str) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ModelDeployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": SPEC,
        }
        self.objects.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)

    def phase(self, ns: str, name: str) -> str:
        body = self.objects.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
        return (body.get("status") or {}).get("phase", "")

    def retrain(self, ns: str, name: str) -> None:
        patch = {"metadata": {"annotations": {"modelpilot.dev/retrain-requested-at": "bench"}}}
        self.objects.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, patch)


def probe(api: Api, watch: JobWatch, ns: str, name: str) -> float:
    """Seconds from create to its training Job seen by the watch (nan after 60 s)."""
    t = time.monotonic()
    api.create(ns, name)
    while (ns, f"{name}-train-v1") not in watch.seen and time.monotonic() - t < 60:
        time.sleep(0.01)
    return watch.seen.get((ns, f"{name}-train-v1"), float("nan")) - t


def wait_one_serving(api: Api, ns: str, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while api.phase(ns, name) != "Serving" and time.monotonic() < deadline:
        time.sleep(0.25)


def wait_serving(api, namespaces, n, *, revision, timeout, on_half=None) -> float:
    start, halfway_done = time.monotonic(), False
    while time.monotonic() - start < timeout:
        counts = phases(api, namespaces)
        serving = counts[f"serving:{revision}"]
        if on_half and not halfway_done and serving >= n // 2:
            halfway_done = True
            on_half()
        if serving >= n:
            return time.monotonic() - start
        time.sleep(2)
    raise SystemExit(f"not all Serving {revision} after {timeout}s: {dict(counts)}")


def report(title: str, figures: dict[str, str]) -> None:
    print(f"\n== {title}")
    for key, value in figures.items():
        print(f"  {key:44} {value}")
    sys.stdout.flush()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--namespaces", type=int, default=5)
    p.add_argument("--rest", type=float, default=300.0, help="seconds measured at rest")
    p.add_argument("--probes", type=int, default=20)
    p.add_argument("--real", action="store_true", help="real processes (N of 20-50)")
    p.add_argument("--timeout", type=float, default=1800)
    args = p.parse_args()
    env = cluster_up()
    env["PYTHONPATH"] = str(REPO / "hack")
    sh(
        "kubectl",
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        str(REPO / "manifests" / "crd" / "modelpilot.dev_modeldeployments.yaml"),
        env=env,
    )
    stamp = time.strftime("%H%M%S")
    namespaces = [f"scale-{stamp}-{i}" for i in range(args.namespaces)]
    logdir = Path(os.environ.get("MODELPILOT_CACHE", Path.home() / ".cache" / "modelpilot"))
    logdir = logdir / "bench" / f"operator-scale-{stamp}"
    logdir.mkdir(parents=True, exist_ok=True)
    hollow = None
    real_nodes = [
        n["metadata"]["name"]
        for n in json.loads(sh("kubectl", "get", "nodes", "-o", "json", env=env))["items"]
        if not n["metadata"]["name"].startswith("hollow-")
    ]
    operator = Operator(env, namespaces, logdir / "operator.log")
    watch = JobWatch(env)
    api = Api(env["KUBECONFIG"])
    try:
        if not args.real:
            with open(logdir / "hollow.log", "ab") as log:
                hollow = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "nodeagent.hollow",
                        "--kubeconfig",
                        env["KUBECONFIG"],
                        "--pod-cidr",
                        HOLLOW_POD_CIDR,
                        "--link",
                        f"mphollow{CLUSTER_INDEX}",
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            for node in real_nodes:
                sh("kubectl", "taint", "node", node, TAINT, "--overwrite", env=env)
            deadline = time.monotonic() + 90  # the node object appears once it registered
            while (
                sh(
                    "kubectl",
                    "wait",
                    "--for=condition=Ready",
                    "node/hollow-0",
                    "--timeout=10s",
                    env=env,
                    check=False,
                ).find("condition met")
                < 0
            ):
                if time.monotonic() > deadline or hollow.poll() is not None:
                    raise SystemExit(f"hollow-0 never became Ready; see {logdir}/hollow.log")
                time.sleep(1)
        for ns in namespaces:
            sh("kubectl", "create", "namespace", ns, env=env)
            sh(
                "kubectl",
                "apply",
                "-n",
                ns,
                "-f",
                str(REPO / "examples" / "iris" / "model-store.yaml"),
                env=env,
            )
        operator.start()

        # ---- phase 1: N applied at once
        applied: dict[tuple[str, str], float] = {}
        t0 = time.monotonic()
        for i in range(args.n):
            ns, name = namespaces[i % len(namespaces)], f"m{i:04d}"
            applied[(ns, f"{name}-train-v1")] = time.monotonic()
            api.create(ns, name)
        apply_seconds = time.monotonic() - t0
        serving_after = (
            wait_serving(api, namespaces, args.n, revision="v1", timeout=args.timeout)
            + apply_seconds
        )
        lat = [watch.seen[k] - t for k, t in applied.items() if k in watch.seen]
        probe_names = [
            (namespaces[i % len(namespaces)], f"probe{i:03d}") for i in range(2 * args.probes)
        ]
        probes, back_to_back = [], []
        for ns, name in probe_names[: args.probes]:  # each once the one before serves
            probes.append(probe(api, watch, ns, name))
            wait_one_serving(api, ns, name)
        for ns, name in probe_names[args.probes :]:  # each once the one before has its Job
            back_to_back.append(probe(api, watch, ns, name))
        wait_serving(api, namespaces, args.n + len(probe_names), revision="v1", timeout=300)
        time.sleep(10)  # the last ticks settle
        cpu0, api0, r0 = operator.cpu_seconds(), operator.api_requests(), time.monotonic()
        time.sleep(args.rest)
        cpu1, api1, r1 = operator.cpu_seconds(), operator.api_requests(), time.monotonic()
        jobs_dup, deps_dup = duplicates(env, namespaces)
        total = args.n + len(probe_names)
        report(
            f"phase 1: {args.n} applied at once ({'real' if args.real else 'hollow'} "
            f"pods, {len(namespaces)} namespaces)",
            {
                "apply of all N (API creates, sequential)": f"{apply_seconds:.1f} s",
                "time until all Serving (from first apply)": f"{serving_after:.1f} s",
                "apply -> Job under load p50 / p99": f"{percentile(lat, 50):.2f} / "
                f"{percentile(lat, 99):.2f} s",
                f"apply -> Job with {args.n} present p50 / p99": f"{percentile(probes, 50):.3f} / "
                f"{percentile(probes, 99):.3f} s",
                "  ... applied back to back p50 / p99": f"{percentile(back_to_back, 50):.3f} / "
                f"{percentile(back_to_back, 99):.3f} s",
                "operator peak RSS": f"{operator.peak_rss_kib / 1024:.0f} MiB",
                f"operator CPU at rest ({args.rest:.0f} s, {total} objects)": (
                    f"{100 * (cpu1 - cpu0) / (r1 - r0):.2f} % of a core"
                ),
                "API requests/min at rest (excl. watches)": f"{60 * (api1 - api0) / (r1 - r0):.1f}",
                "duplicate Jobs / Deployments": f"{jobs_dup} / {deps_dup}",
            },
        )

        # ---- phase 2: retrain all, operator killed halfway
        names = [(namespaces[i % len(namespaces)], f"m{i:04d}") for i in range(args.n)]
        names += probe_names
        applied2: dict[tuple[str, str], float] = {}
        t0 = time.monotonic()
        for ns, name in names:
            applied2[(ns, f"{name}-train-v2")] = time.monotonic()
            api.retrain(ns, name)
        killed: list[float] = []

        def kill_and_restart() -> None:
            killed.append(time.monotonic() - t0)
            operator.kill()
            operator.start()

        serving2 = wait_serving(
            api,
            namespaces,
            len(names),
            revision="v2",
            timeout=args.timeout,
            on_half=kill_and_restart,
        )
        lat2 = [watch.seen[k] - t for k, t in applied2.items() if k in watch.seen]
        time.sleep(10)
        cpu0, api0, r0 = operator.cpu_seconds(), operator.api_requests(), time.monotonic()
        time.sleep(min(args.rest, 60))
        cpu1, api1, r1 = operator.cpu_seconds(), operator.api_requests(), time.monotonic()
        jobs_dup, deps_dup = duplicates(env, namespaces)
        report(
            f"phase 2: all {len(names)} retrained, operator SIGKILLed halfway "
            f"(at {killed[0] if killed else float('nan'):.0f} s) and restarted",
            {
                "time until all Serving v2": f"{serving2:.1f} s",
                "retrain -> Job p50 / p99": f"{percentile(lat2, 50):.2f} / "
                f"{percentile(lat2, 99):.2f} s",
                "operator peak RSS (the larger of both)": f"{operator.peak_rss_kib / 1024:.0f} MiB",
                f"operator CPU at rest ({min(args.rest, 60):.0f} s)": (
                    f"{100 * (cpu1 - cpu0) / (r1 - r0):.2f} % of a core"
                ),
                "API requests/min at rest": f"{60 * (api1 - api0) / (r1 - r0):.1f}",
                "duplicate Jobs / Deployments": f"{jobs_dup} / {deps_dup}",
            },
        )
        print(f"\nlogs: {logdir}")
    finally:
        watch.close()
        operator.stop()
        for ns in namespaces:
            sh("kubectl", "delete", "namespace", ns, "--wait=false", env=env, check=False)
        if hollow is not None:
            for node in real_nodes:
                sh("kubectl", "taint", "node", node, f"{TAINT}-", env=env, check=False)
            hollow.terminate()
            hollow.wait(15)
            sh("kubectl", "delete", "node", "hollow-0", "--wait=false", env=env, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
