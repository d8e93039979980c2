import pytest
from builders import SVC, spec_dict

from modelpilot.api.spec import ModelDeploymentSpec
from modelpilot.operator.rollout.steps import Pause, SetWeight, canary_steps, describe_step


def spec_with(steps):
    return ModelDeploymentSpec.model_validate(
        spec_dict(SVC, threshold=0.5, store=False, rollout={"steps": steps})
    )


def test_the_spec_steps_read_as_the_tagged_union():
    spec = spec_with([{"setWeight": 10}, {"pause": {"duration": "30s"}}, {"pause": {}}])
    assert canary_steps(spec) == (SetWeight(10), Pause(30.0), Pause(None))


@pytest.mark.parametrize(
    ("index", "words"),
    [
        pytest.param(0, "1/3 setWeight 10", id="set-weight"),
        pytest.param(1, "2/3 pause 30s", id="timed-pause"),
        pytest.param(2, "3/3 pause (until `modelpilot promote`)", id="pause-until-promote"),
        pytest.param(3, "3/3 done: promote", id="done"),
    ],
)
def test_describe_step(index, words):
    assert describe_step((SetWeight(10), Pause(30.0), Pause(None)), index) == words
