"""hack/retry.sh, which every download step of `make test` goes through (pip, apt, Go modules,
image builds): a dropped link is retried, a lasting failure still fails with its own status."""

import os
import subprocess
from pathlib import Path

RETRY = Path(__file__).resolve().parents[3] / "hack" / "retry.sh"


def run(attempts: int, script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RETRY_DELAY": "0", "COUNT": str(tmp_path / "count")}
    return subprocess.run(
        [str(RETRY), str(attempts), "bash", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


# Fails until it has run `n` times, counting its runs in $COUNT.
FLAKY = 'echo x >>"$COUNT"; [ "$(wc -l <"$COUNT")" -ge {n} ]'


def runs(tmp_path: Path) -> int:
    return len((tmp_path / "count").read_text().splitlines())


def test_a_command_that_fails_twice_then_works_succeeds_on_the_third_attempt(
    tmp_path: Path,
) -> None:
    res = run(3, FLAKY.format(n=3), tmp_path)
    assert res.returncode == 0, res.stderr
    assert runs(tmp_path) == 3
    assert "attempt 3 of 3" in res.stderr


def test_a_lasting_failure_stops_after_n_attempts_with_its_own_exit_status(
    tmp_path: Path,
) -> None:
    res = run(2, 'echo x >>"$COUNT"; exit 7', tmp_path)
    assert res.returncode == 7
    assert runs(tmp_path) == 2
    assert "failed 2 times (last exit 7)" in res.stderr


def test_a_command_that_works_runs_once(tmp_path: Path) -> None:
    res = run(3, FLAKY.format(n=1), tmp_path)
    assert res.returncode == 0
    assert runs(tmp_path) == 1
    assert res.stderr == ""
