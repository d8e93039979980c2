import pytest

from modelpilot.operator.routers import Weights


@pytest.mark.parametrize(
    ("stable", "canary", "error"),
    [
        pytest.param(90, 20, ValueError, id="sum-over-100"),
        pytest.param(50, 40, ValueError, id="sum-under-100"),
        pytest.param(101, -1, ValueError, id="negative-canary"),
        pytest.param(90.0, 10, TypeError, id="float-weight"),
        pytest.param(True, 99, TypeError, id="bool-weight"),
    ],
)
def test_invalid_weights_are_refused(stable, canary, error):
    with pytest.raises(error):
        Weights(stable=stable, canary=canary)


def test_weights_are_frozen_values():
    weights = Weights.canary_at(10)
    assert weights == Weights(stable=90, canary=10)
    with pytest.raises(AttributeError):
        weights.canary = 20  # type: ignore[misc]
    assert Weights(100, 0) == Weights.STABLE_ONLY
    assert Weights(0, 100) == Weights.CANARY_ONLY


@pytest.mark.parametrize(
    ("stable", "canary", "expected_canary"),
    [
        pytest.param(5, 1, 17, id="one-pod-in-six-rounds-to-17"),
        pytest.param(3, 3, 50, id="even-split"),
        pytest.param(199, 1, 1, id="tiny-share-never-reads-as-zero"),
        pytest.param(1, 199, 99, id="tiny-stable-share-never-reads-as-100"),
        pytest.param(0, 0, 0, id="no-backends-reads-as-all-stable"),
        pytest.param(0, 7, 100, id="canary-only"),
        pytest.param(900_000, 100_000, 10, id="large-relative-weights"),
    ],
)
def test_weights_from_shares(stable, canary, expected_canary):
    assert Weights.from_shares(stable=stable, canary=canary).canary == expected_canary
