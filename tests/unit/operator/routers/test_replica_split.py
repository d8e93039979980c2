import pytest

from modelpilot.operator.routers import ReplicaSplit, replica_split


@pytest.mark.parametrize(
    ("total", "weight", "expected"),
    [
        pytest.param(5, 0, (5, 0, 0.0), id="no-canary"),
        pytest.param(5, 10, (5, 1, 100 / 6), id="10pct-of-5-is-one-pod"),
        pytest.param(5, 20, (5, 1, 100 / 6), id="20pct-of-5-is-one-pod"),
        pytest.param(5, 25, (5, 2, 200 / 7), id="25pct-of-5-rounds-up-to-two"),
        pytest.param(5, 50, (5, 3, 37.5), id="50pct-of-5-is-three-pods"),
        pytest.param(5, 99, (5, 5, 50.0), id="canary-never-exceeds-stable-count"),
        pytest.param(5, 100, (0, 5, 100.0), id="100pct-is-promotion"),
        pytest.param(10, 10, (10, 1, 100 / 11), id="10pct-of-10"),
        pytest.param(10, 1, (10, 1, 100 / 11), id="any-weight-gets-at-least-one-pod"),
        pytest.param(3, 10, (3, 1, 25.0), id="10pct-of-3"),
        pytest.param(3, 34, (3, 2, 40.0), id="ceil-is-exact-integer-arithmetic"),
        pytest.param(1, 20, (1, 1, 50.0), id="single-replica-halves"),
        pytest.param(1, 100, (0, 1, 100.0), id="single-replica-promotion"),
    ],
)
def test_replica_split(total, weight, expected):
    split = replica_split(total, weight)
    assert isinstance(split, ReplicaSplit)
    assert split[:2] == expected[:2]
    assert split.actual_weight == pytest.approx(expected[2])


@pytest.mark.parametrize("total", range(1, 12))
@pytest.mark.parametrize("weight", [1, 5, 10, 20, 33, 50, 75, 99])
def test_stable_keeps_its_full_count_before_promotion(total, weight):
    split = replica_split(total, weight)
    assert split.stable_replicas == total
    assert 1 <= split.canary_replicas <= total
    assert split.actual_weight == pytest.approx(
        100 * split.canary_replicas / (split.stable_replicas + split.canary_replicas)
    )


@pytest.mark.parametrize(
    ("total", "weight"),
    [
        pytest.param(0, 10, id="no-replicas"),
        pytest.param(5, -1, id="negative-weight"),
        pytest.param(5, 101, id="over-100"),
    ],
)
def test_replica_split_refuses_nonsense(total, weight):
    with pytest.raises(ValueError):
        replica_split(total, weight)
