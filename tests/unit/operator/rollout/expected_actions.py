"""Comparing a plan's actions with a table row's: by value, in order."""

from __future__ import annotations


def assert_actions(actions, expected) -> None:
    """Actions compared by value; a bare class stands for one whose fields are beside the
    point of the row (a training Job's whole spec document, checked by its own tests)."""
    assert len(actions) == len(expected), actions
    for action, want in zip(actions, expected, strict=True):
        if isinstance(want, type):
            assert isinstance(action, want), action
        else:
            assert action == want, action
