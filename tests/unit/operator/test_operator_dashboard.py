"""`modelpilot dashboard` without a cluster: the pictures, the routes and the buttons' guards.

The models are a fake that is a real in-memory implementation (annotations merge like a
merge patch; a namespace can forbid patching like RBAC). The browser test against a real
cluster and operator is tests/e2e/test_pictures.py.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

import pytest
from dashboard_fakes import MemoryModels, canary, serving

from modelpilot.api import names
from modelpilot.api.status import (
    CandidateState,
    Phase,
    dump_status,
)
from modelpilot.cli import dashboard_page as page
from modelpilot.cli import main as cli
from modelpilot.cli.dashboard import act, action_annotations, serve

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_the_steps_tick_what_is_done_and_light_the_current_one() -> None:
    html = page.live(canary(step_index=2, weight=50))
    steps = re.findall(r"<li class='(\w*)' data-step=(\d)>", html)
    assert steps == [("done", "0"), ("done", "1"), ("current", "2"), ("", "3")]
    assert "pause (until promoted)" in html and "pause 30s" in html
    assert "data-canary-weight=50" in html and "canary v2 50%" in html and "stable v1 50%" in html


def test_the_drift_chart_draws_a_bar_per_feature_and_the_threshold_escaped() -> None:
    svg = page.drift_chart([("petal <b>", 0.4), ("sepal", 0.05)], 0.25)
    assert svg.count("<rect class=psi") == 2
    assert "petal &lt;b&gt;" in svg and "<b>" not in svg
    assert "threshold 0.25" in svg
    over, under = re.findall(r"fill='(#\w+)'", svg)
    assert over != under  # the bar above the threshold stands out


def test_analysis_windows_and_revisions_are_listed() -> None:
    html = page.live(canary(windows=("Failed", "Passed")))
    assert re.findall(r"id=windows.*?</table>", html, flags=re.S)
    assert html.count("class='phase Failed'") == 1 and html.count("class='phase Passed'") == 1
    assert "0.9600" in html


def test_buttons_are_disabled_outside_a_canary() -> None:
    assert "id=abort class=abort onclick=\"act('abort')\" disabled" in page.live(serving())
    assert "id=abort class=abort onclick=\"act('abort')\">" in page.live(canary())


def test_the_actions_set_the_cli_s_annotations() -> None:
    assert action_annotations("abort", T0) == {names.ANNOTATION_ABORT: "2026-01-01T12:00:00.000Z"}
    assert action_annotations("promote-full", T0) == {
        names.ANNOTATION_PROMOTE: "2026-01-01T12:00:00.000Z",
        names.ANNOTATION_PROMOTE_FULL: "true",
    }


@pytest.mark.parametrize(
    ("body", "forbidden", "code", "said"),
    [
        (canary(), frozenset(), 200, "abort requested at 2026-01-01T12:00:00.000Z"),
        (serving(), frozenset(), 409, "iris is Serving, not in a canary: nothing to abort"),
        (canary(), frozenset({"ml"}), 403, "forbidden: you may not patch modeldeployments in ml"),
        (None, frozenset(), 404, "modeldeployment ml/iris not found"),
    ],
    ids=["canary-aborts", "no-canary-nothing-to-do", "rbac-refusal-is-said", "gone"],
)
def test_act(body: dict | None, forbidden: frozenset[str], code: int, said: str) -> None:
    models = MemoryModels(forbidden)
    if body is not None:
        models.put(body)
    assert act(models, "ml", "iris", "abort", now=T0) == (code, said)


@pytest.fixture
def running() -> Iterator[tuple[MemoryModels, str]]:
    models = MemoryModels()
    models.put(canary())
    server = serve(models, port=0)
    try:
        yield models, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fetch(url: str, *, method: str = "GET", headers: Mapping[str, str] = {}) -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_server_lists_models_and_shows_one(running: tuple[MemoryModels, str]) -> None:
    models, url = running
    code, index = fetch(url + "/")
    assert code == 200 and "<a href='/models/ml/iris'>iris</a>" in index
    code, html = fetch(url + "/models/ml/iris")
    assert code == 200 and "id=steps" in html and "<svg id=drift" in html
    assert fetch(url + "/models/ml/nope")[0] == 404
    models.put(canary(step_index=2, weight=50))  # the operator moved on: the page follows
    assert "data-canary-weight=50" in fetch(url + "/models/ml/iris")[1]


def test_an_action_needs_the_page_s_token(running: tuple[MemoryModels, str]) -> None:
    models, url = running
    _, html = fetch(url + "/models/ml/iris")
    token = re.search(r"'X-Modelpilot-Token':'([^']+)'", html)
    assert token is not None
    abort = url + "/models/ml/iris/abort"
    assert fetch(abort, method="POST")[0] == 403
    assert fetch(abort, method="POST", headers={"X-Modelpilot-Token": "guess"})[0] == 403
    assert "annotations" not in models.bodies[("ml", "iris")]["metadata"]
    code, said = fetch(abort, method="POST", headers={"X-Modelpilot-Token": token.group(1)})
    assert code == 200 and said.startswith("abort requested at ")
    assert names.ANNOTATION_ABORT in models.bodies[("ml", "iris")]["metadata"]["annotations"]


def test_a_foreign_host_is_refused(running: tuple[MemoryModels, str]) -> None:
    _, url = running
    assert fetch(url + "/", headers={"Host": "evil.example:80"})[0] == 403


def test_the_verb_is_registered() -> None:
    assert cli.VERBS["dashboard"][:2] == ("modelpilot.cli.dashboard", "main")


def test_a_non_loopback_address_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from modelpilot.cli.dashboard import main

    assert main(["--address", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err


class ForbiddenCluster:
    """A cluster whose RBAC lets this user neither list nor patch ModelDeployments."""

    def request(self, method: str, path: str, **_: object) -> dict:
        from modelpilot.operator.errors import ApiError

        raise ApiError(f"{method} {path}: forbidden", status=403)

    def patch(self, kind: str, namespace: str, name: str, patch: object) -> dict:
        return self.request("PATCH", f"{namespace}/{name}")


def test_rbac_refusals_name_the_verb_and_the_resource() -> None:
    from modelpilot.cli.dashboard import KubeModels

    resource = r"modeldeployments\.modelpilot\.dev"
    with pytest.raises(PermissionError, match=f"list {resource} across all namespaces"):
        KubeModels(ForbiddenCluster(), None).list_all()
    with pytest.raises(PermissionError, match=f"list {resource} in namespace ml"):
        KubeModels(ForbiddenCluster(), "ml").list_all()
    with pytest.raises(PermissionError, match=f"patch {resource} in namespace ml"):
        KubeModels(ForbiddenCluster(), "ml").annotate("ml", "iris", {"a": "b"})


def test_a_refused_listing_is_a_403_page_that_says_so() -> None:
    from modelpilot.cli.dashboard import KubeModels

    server = serve(KubeModels(ForbiddenCluster(), None), port=0)
    try:
        code, html = fetch(f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 403 and "you may not list modeldeployments" in html


def test_after_a_rollback_nothing_is_current_and_each_revision_shows_once() -> None:
    from modelpilot.api.status import HistoryEntry, parse_status

    body = canary(step_index=3, weight=0)
    status = parse_status(body["status"])
    assert status.candidate is not None
    body["status"] = dump_status(
        status.model_copy(
            update={
                "phase": Phase.ROLLED_BACK,
                "candidate": status.candidate.model_copy(
                    update={"state": CandidateState.ROLLED_BACK}
                ),
                "history": [
                    HistoryEntry(
                        revision="v2",
                        outcome=CandidateState.ROLLED_BACK,
                        message="Aborted: aborted by `modelpilot abort`",
                    )
                ],
            }
        )
    )
    html = page.live(body)
    assert "class='current'" not in html and "class='done'" not in html
    assert "canary v2" not in html and "stable v1 100%" in html
    assert re.findall(r"<tr><td>v2</td>", html) == ["<tr><td>v2</td>"]
    assert "Aborted: aborted by" in html
