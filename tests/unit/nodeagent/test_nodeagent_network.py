"""Pod IP allocation: released addresses are not handed straight out again."""

from __future__ import annotations

import pytest
from nodeagent.network import NetworkError, PodNetwork


def network(cidr: str = "10.244.0.0/29") -> PodNetwork:
    return PodNetwork(bridge="mp-test", bridge_ip="10.244.0.1", pod_cidr=cidr)


def test_a_released_address_is_reused_only_after_the_others() -> None:
    net = network()
    first, second = net._allocate(), net._allocate()
    assert (first, second) == ("10.244.0.2", "10.244.0.3")
    net.release(first)
    assert net._allocate() == "10.244.0.4"


def test_allocation_wraps_around_to_free_addresses() -> None:
    net = network()
    given = [net._allocate() for _ in range(5)]  # .2 .. .6: the /29 is full
    assert given[-1] == "10.244.0.6"
    net.release("10.244.0.3")
    assert net._allocate() == "10.244.0.3"
    with pytest.raises(NetworkError, match="exhausted"):
        net._allocate()
