"""Training concurrency: a cap, a fair queue across namespaces, `queued for training (N ahead)`."""

from __future__ import annotations

import copy

import pytest
from operator_fakes import FakeCluster
from reconcile_world import SETTINGS, SPEC, T0, summary

from modelpilot.api import names
from modelpilot.api.status import parse_status
from modelpilot.operator.reconcile import tick
from modelpilot.operator.training_queue import Granted, Queued, TrainingSlots


def test_namespaces_take_turns_and_first_come_first_served_within_one():
    slots = TrainingSlots(1)
    assert slots.request(("a", "1")) == Granted()
    for key in [("a", "2"), ("a", "3"), ("a", "4"), ("b", "1"), ("c", "1")]:
        assert isinstance(slots.request(key), Queued)
    # a just had its turn, and its many models do not starve b and c.
    assert slots.order() == [("b", "1"), ("c", "1"), ("a", "2"), ("a", "3"), ("a", "4")]
    assert slots.request(("c", "1")) == Queued(ahead=1)


def test_a_freed_slot_wakes_the_next_in_line_and_only_it_is_granted():
    woken: list[tuple[str, str]] = []
    slots = TrainingSlots(1, wake=woken.append)
    slots.request(("a", "1"))
    slots.request(("a", "2"))
    slots.request(("b", "1"))
    slots.release(("a", "1"))
    assert woken == [("b", "1")], "a had its turn: b's waiter is next"
    assert slots.request(("a", "2")) == Queued(ahead=0)
    assert slots.request(("b", "1")) == Granted()
    assert (slots.running, slots.queued) == (1, 1)


def test_an_observed_running_job_holds_a_slot_whoever_granted_it():
    slots = TrainingSlots(2)
    slots.hold(("a", "1"))
    slots.hold(("b", "1"))
    assert slots.request(("c", "1")) == Queued(ahead=0)
    slots.release(("a", "1"))
    assert slots.request(("c", "1")) == Granted()


def test_the_limit_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        TrainingSlots(0)


def apply(cluster: FakeCluster, ns: str, name: str) -> None:
    cluster.apply_model_deployment(ns, name, copy.deepcopy(SPEC))


def status(cluster: FakeCluster, ns: str, name: str):
    return parse_status(cluster.get(names.KIND, ns, name)["status"])


def test_ticks_past_the_cap_queue_their_job_and_say_how_many_are_ahead():
    cluster, slots = FakeCluster(), TrainingSlots(2)
    for ns in ("team-a", "team-b"):
        cluster.add_model_store(ns)
    keys = [("team-a", "m1"), ("team-a", "m2"), ("team-a", "m3"), ("team-b", "m1")]
    for ns, name in keys:
        apply(cluster, ns, name)
    results = {key: tick(cluster, SETTINGS, *key, T0, slots=slots) for key in keys}
    assert sorted(cluster.of_kind("Job")) == ["m1-train-v1", "m2-train-v1"]
    # team-b's model is next although team-a's m3 asked first.
    assert status(cluster, "team-b", "m1").message == "queued for training (0 ahead)"
    assert results[("team-a", "m3")].queued == Queued(ahead=0)  # alone in line, then
    tick(cluster, SETTINGS, "team-a", "m3", T0, slots=slots)  # its next tick says where it is
    assert status(cluster, "team-a", "m3").message == "queued for training (1 ahead)"
    assert status(cluster, "team-a", "m3").phase == "Training"

    # m1's Job finishes: its tick releases the slot, team-b's m1 gets it.
    cluster.objects[("Job", "team-a", "m1-train-v1")]["status"] = {}
    cluster.finish_job("team-a", "m1-train-v1", summary("v1", 0.97))
    tick(cluster, SETTINGS, "team-a", "m1", T0, slots=slots)
    tick(cluster, SETTINGS, "team-a", "m3", T0, slots=slots)
    tick(cluster, SETTINGS, "team-b", "m1", T0, slots=slots)
    assert ("Job", "team-b", "m1-train-v1") in cluster.objects
    assert ("Job", "team-a", "m3-train-v1") not in cluster.objects
    assert status(cluster, "team-a", "m3").message == "queued for training (0 ahead)"


def test_a_deleted_model_deployment_gives_its_place_and_slot_back():
    cluster, slots = FakeCluster(), TrainingSlots(1)
    for ns in ("team-a", "team-b", "a"):
        cluster.add_model_store(ns)
    apply(cluster, "a", "m1")
    apply(cluster, "a", "m2")
    tick(cluster, SETTINGS, "a", "m1", T0, slots=slots)
    tick(cluster, SETTINGS, "a", "m2", T0, slots=slots)
    assert slots.queued == 1
    cluster.delete(names.KIND, "a", "m1")
    tick(cluster, SETTINGS, "a", "m1", T0, slots=slots)
    tick(cluster, SETTINGS, "a", "m2", T0, slots=slots)
    assert ("Job", "a", "m2-train-v1") in cluster.objects
    assert (slots.running, slots.queued) == (1, 0)
