"""A canary seen by Prometheus and by the dashboard page, on the local cluster.

One scenario serves both, so the cluster time is spent once: the canary example with drift
monitoring; v1 trains and serves under load; v2 trains and walks its steps under load while
`modelpilot dashboard` (the real CLI, on the admin kubeconfig) is open in Debian's Chromium,
driven by Selenium; the page shows the step advancing, and its Abort button rolls v2 back.

Prometheus (test_pictures.py's) scrapes the operator's /metrics and the serving pods, whose
addresses the test keeps in the file_sd file as the pods come and go (what the chart's
ServiceMonitor and PodMonitor do with the prometheus-operator). Afterwards each panel's
query, with the dashboard's variables filled in, must return a sample over the scenario, as
must the model dashboard's promotion and rollback annotations.

The page's screenshots go to $MODELPILOT_SCREENSHOTS (default: the test's temporary directory).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from canary_harness import CANARY, LoadGenerator, run_cli, service_targets, wait_canary
from kube import REPO, wait_for
from operator_harness import EXAMPLES, Story
from prometheus_harness import PROMETHEUS, Prometheus, filled, free_port, has_data, panels

pytestmark = pytest.mark.e2e


def spec() -> dict:
    doc = copy.deepcopy(CANARY)
    doc["spec"]["serving"]["replicas"] = 2
    doc["spec"]["rollout"]["steps"] = [
        {"setWeight": 25},
        {"pause": {"duration": "5s"}},
        {"setWeight": 50},
        {"pause": {}},
    ]
    # Generous limits: the canary must live until the page aborts it, on a busy machine.
    doc["spec"]["rollout"]["analysis"].update(maxLatencyP99Ms=2000, maxErrorRate=0.05)
    doc["spec"]["monitoring"] = {"interval": "5s", "minRequests": 20, "maxFeaturePsi": 0.25}
    return doc


# What the page shows, read in one go (it replaces its live part as it refreshes).
READ = """
const q = (s) => document.querySelector(s), current = q('#steps li.current');
return {phase: q('#live').dataset.phase, weight: q('#traffic').dataset.canaryWeight,
        step: current && Number(current.dataset.step), message: q('#message').innerText};
"""


class Page:
    """`modelpilot dashboard` as a person runs it, and Chromium looking at one model."""

    def __init__(self, kube: dict[str, str], workdir: Path) -> None:
        chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
        assert chromium and driver, "chromium and chromium-driver are missing (hack/prereqs.sh)"
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.port = free_port()
        self.log = open(workdir / "dashboard.log", "wb")  # noqa: SIM115 - the child's
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelpilot.cli", "dashboard", "--port", str(self.port)],
            env=kube,
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1100,1250",
        ):
            options.add_argument(flag)
        self.browser = webdriver.Chrome(options=options, service=Service(executable_path=driver))

    def open(self, namespace: str) -> None:
        url = f"http://127.0.0.1:{self.port}/models/{namespace}/iris"

        def opened() -> bool:
            try:
                with urllib.request.urlopen(url, timeout=3) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(opened, timeout=30, what="modelpilot dashboard answering")
        self.browser.get(url)

    def shown(self) -> dict:
        shown: dict = self.browser.execute_script(READ)
        return shown

    def wait(self, what: str, predicate, timeout: float = 120) -> dict:
        return wait_for(
            lambda: (lambda s: s if predicate(s) else None)(self.shown()),
            timeout=timeout,
            interval=0.5,
            what=f"the page showing {what}",
        )

    def stop(self) -> None:
        self.browser.quit()
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def test_a_canary_seen_by_prometheus_and_the_dashboard_page(
    operator, kubectl, namespace, kube, tmp_path
):
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} is not built (make prometheus-bin)")
    shots = Path(os.environ.get("MODELPILOT_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    operator.stop()  # again, now serving /metrics where Prometheus scrapes it
    operator.extra_env["MODELPILOT_LIVENESS_ENDPOINT"] = f"http://127.0.0.1:{port}/healthz"
    operator.start()
    prometheus = Prometheus(tmp_path, f"127.0.0.1:{port}", namespace)
    try:
        page = Page(kube, tmp_path)
    except BaseException:
        prometheus.stop()
        raise
    story = Story(kubectl, namespace)
    started = time.time()
    try:
        story.apply(EXAMPLES / "canary" / "model-store.yaml")
        story.apply([spec()])
        story.wait_condition("Ready", timeout=240)
        page.open(namespace)
        page.wait("v1 serving", lambda s: s["phase"] == "Serving")

        def follow_pods() -> list:
            """The load's targets; Prometheus scrapes the same pods."""
            targets = service_targets(kubectl, namespace, "iris", "iris")()
            prometheus.write_targets(sorted({f"{t.ip}:8080" for t in targets}))
            return targets

        with LoadGenerator(follow_pods, rate=30, max_seconds=240):
            # A drift window of v1 (the load repeats one row: its features drift).
            wait_for(
                lambda: (story.status().get("monitoring") or {}).get("worst"),
                timeout=60,
                what="a judged monitoring window of v1",
            )
            assert run_cli(kube, "retrain", "iris", "-n", namespace).returncode == 0
            first = page.wait(
                "v2's canary at its first steps",
                lambda s: s["phase"] == "Canary" and s["step"] is not None and s["step"] <= 1,
                timeout=240,
            )
            page.browser.save_screenshot(str(shots / "dashboard-canary-first-step.png"))
            # The pause ends, the weight moves to 50: the page follows without a reload.
            advanced = page.wait(
                "the step advancing to setWeight 50 and its pause",
                lambda s: s["step"] == 3 and s["weight"] == "50",
            )
            assert advanced["step"] > first["step"]
            wait_canary(
                story,
                "an analysis window of v2",
                lambda c: (c.get("analysis") or {}).get("windows"),
                timeout=60,
            )
            wait_for(
                lambda: prometheus.query(
                    f'rate(modelpilot_requests_total{{namespace="{namespace}", version="v2"}}[10s])'
                    " > 0"
                ),
                timeout=30,
                what="Prometheus scraping v2's requests",
            )
            page.browser.save_screenshot(str(shots / "dashboard-canary-advanced.png"))

            from selenium.webdriver.common.by import By

            page.browser.find_element(By.ID, "abort").click()
            page.wait(
                "the abort requested", lambda s: "abort requested at" in s["message"], timeout=30
            )
            story.wait_phase("RolledBack", timeout=60)
            page.wait(
                "the rollback",
                lambda s: s["phase"] == "RolledBack" and s["weight"] == "0" and s["step"] is None,
                timeout=30,
            )
            page.browser.save_screenshot(str(shots / "dashboard-rolled-back.png"))
        wait_for(
            lambda: prometheus.query(
                f'modelpilot_modeldeployment_status_phase{{namespace="{namespace}", '
                'phase="RolledBack"} == 1'
            ),
            timeout=30,
            what="Prometheus scraping the rollback",
        )
        # Scrapes for a few seconds more, so the range queries' 2 s grid has a point on them.
        seen = time.time()
        wait_for(
            lambda: prometheus.query(f'max(timestamp(up{{job="operator"}})) > {seen + 4}'),
            timeout=30,
            what="Prometheus scraping past the rollback",
        )
        end = time.time()

        empty = [
            f"{board} / {title}: {expr}"
            for board, title, expr in panels()
            if not has_data(prometheus.query_range(filled(expr, namespace), started, end))
        ]
        checked = len(list(panels()))
        print(
            f"{checked} dashboard queries checked against Prometheus over a "
            f"{end - started:.0f}s scenario; screenshots in {shots}"
        )
        assert not empty, "queries without data:\n" + "\n".join(empty)
    finally:
        page.stop()
        prometheus.stop()
