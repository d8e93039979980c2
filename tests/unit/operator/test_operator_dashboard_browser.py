"""`modelpilot dashboard` in a real browser: Debian's Chromium, driven by Selenium.

The page's own script is what is tested here: it follows a canary's step as it advances
without a reload, and its Abort button reaches the server with the page's token and shows the
rollback that follows. The models are the in-memory fake of test_operator_dashboard.py, and
the test plays the operator: it moves the step, and answers the abort annotation with a
rollback. (hack/prereqs.sh installs chromium and chromium-driver; without them this skips,
unless MODELPILOT_REQUIRE_TOOLS=1, as `make test-unit` sets, where it fails.)

The screenshots go to $MODELPILOT_SCREENSHOTS (default: a pytest temporary directory).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_fakes import MemoryModels, canary

from modelpilot.api import names
from modelpilot.api.status import (
    CandidateState,
    ModelDeploymentStatus,
    Phase,
    StableStatus,
    dump_status,
    parse_status,
)
from modelpilot.cli.dashboard import serve

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
WAIT = 20  # seconds; the page refreshes every 1.5 s


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        missing = "chromium and chromium-driver are not installed (hack/prereqs.sh)"
        if os.environ.get("MODELPILOT_REQUIRE_TOOLS") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1100,1250",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def rolled_back() -> dict[str, Any]:
    body = canary()
    candidate = parse_status(body["status"]).candidate
    assert candidate is not None
    body["status"] = dump_status(
        ModelDeploymentStatus(
            phase=Phase.ROLLED_BACK,
            message="v2 was aborted by hand; v1 serves",
            stable=StableStatus(
                revision="v1", model_sha256="a", deployment="iris-v1", service="iris"
            ),
            candidate=candidate.model_copy(update={"state": CandidateState.ROLLED_BACK}),
        )
    )
    return body


# What the page shows, read in one go: the page replaces its live part while it is read.
READ = """
const q = (s) => document.querySelector(s), all = (s) => document.querySelectorAll(s);
const current = q('#steps li.current');
return {
  phase: q('#live').dataset.phase,
  weight: q('#traffic').dataset.canaryWeight,
  traffic: q('#traffic').innerText,
  current: current && [current.dataset.step, current.innerText],
  done: all('#steps li.done').length,
  bars: all('#drift rect.psi').length,
  abortDisabled: q('#abort').disabled,
  message: q('#message').innerText,
  status: q('#status-message').innerText,
};
"""


def read(driver: Any) -> dict[str, Any]:
    shown: dict[str, Any] = driver.execute_script(READ)
    return shown


def shots() -> Path:
    return Path(os.environ.get("MODELPILOT_SCREENSHOTS", ""))


def test_the_page_follows_the_canary_and_abort_rolls_it_back(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    where = shots() if os.environ.get("MODELPILOT_SCREENSHOTS") else tmp_path
    where.mkdir(parents=True, exist_ok=True)
    models = MemoryModels()
    models.put(canary(step_index=0, weight=20, windows=("Passed",)))
    server = serve(models, port=0)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    wait = WebDriverWait(browser, WAIT)
    try:
        browser.get(url + "/")
        browser.find_element(By.LINK_TEXT, "iris").click()
        wait.until(lambda d: d.find_elements(By.ID, "traffic"))
        shown = read(browser)
        assert shown["weight"] == "20" and "canary v2 20%" in shown["traffic"]
        assert shown["current"] == ["0", "setWeight 20"] and shown["done"] == 0

        # The operator moves to the third step (setWeight 50): the page follows by itself.
        models.put(canary(step_index=2, weight=50, windows=("Passed", "Passed")))
        wait.until(lambda d: read(d)["weight"] == "50")
        shown = read(browser)
        assert shown["current"] == ["2", "setWeight 50"] and shown["done"] == 2
        assert shown["bars"] == 2 and shown["phase"] == "Canary"
        browser.save_screenshot(str(where / "dashboard-canary.png"))

        browser.find_element(By.ID, "abort").click()
        wait.until(lambda d: "abort requested at" in read(d)["message"])
        annotations = models.bodies[("ml", "iris")]["metadata"].get("annotations", {})
        assert names.ANNOTATION_ABORT in annotations
        models.put(rolled_back())  # the operator answers the annotation
        wait.until(lambda d: read(d)["phase"] == "RolledBack")
        shown = read(browser)
        assert shown["weight"] == "0" and "stable v1 100%" in shown["traffic"]
        assert shown["abortDisabled"] is True and shown["current"] is None
        assert "v2 was aborted by hand" in shown["status"]
        browser.save_screenshot(str(where / "dashboard-rolled-back.png"))
    finally:
        server.shutdown()
        server.server_close()
