"""Which phase may follow which: the state machine written down as one table.

A unit test runs every planned transition through `check_transition`, so a plan that
invents a new edge fails loudly instead of silently changing the machine's shape.
"""

from __future__ import annotations

from modelpilot.api.status import Phase

P = Phase

# Every phase may also stay where it is. A new revision (spec change, retrain, schedule)
# may start from anywhere but Pending's first one, superseding what is in flight (Training ->
# Training is the stay); an invalid spec (Failed) may appear anywhere.
# A pin (spec.serving.pinRevision) brings a revision from history back without training: it
# enters at Deploying (or, beside a stable with steps, Canary) from wherever a revision may
# start, superseding what is in flight.
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    P.PENDING: frozenset({P.TRAINING, P.FAILED}),
    P.TRAINING: frozenset({P.DEPLOYING, P.CANARY, P.REJECTED, P.FAILED, P.SERVING}),
    P.DEPLOYING: frozenset({P.TRAINING, P.SERVING, P.FAILED, P.CANARY}),
    P.CANARY: frozenset({P.TRAINING, P.SERVING, P.ROLLED_BACK, P.FAILED, P.DEPLOYING}),
    P.SERVING: frozenset({P.TRAINING, P.FAILED, P.DEPLOYING, P.CANARY}),
    P.REJECTED: frozenset({P.TRAINING, P.FAILED, P.DEPLOYING, P.CANARY}),
    # Leaving Failed without a new revision: the invalid spec was reverted to the one that
    # already ran, so the phase returns to what that revision's outcome was — or to the
    # deployment or canary that the invalid spec held where it was.
    P.FAILED: frozenset(
        {P.TRAINING, P.DEPLOYING, P.CANARY, P.SERVING, P.REJECTED, P.ROLLED_BACK, P.PENDING}
    ),
    P.ROLLED_BACK: frozenset({P.TRAINING, P.FAILED, P.DEPLOYING, P.CANARY}),
}


class IllegalTransition(AssertionError):
    """plan() produced an edge that is not in TRANSITIONS: a bug in plan(), not in the spec."""


def allowed(old: Phase, new: Phase) -> bool:
    return old == new or new in TRANSITIONS[old]


def check_transition(old: Phase, new: Phase) -> None:
    if not allowed(old, new):
        raise IllegalTransition(f"phase {old} -> {new} is not in the transitions table")
