"""The in-memory cluster at the level plan() sees it: apply actions to a World.

A real implementation of what each action does to the observed world (create-if-absent,
patch, scale, delete, weights on the route), as the interpreter in modelpilot.operator.apply
does to a cluster; readiness is never invented (a scaled-up Deployment has no more Ready pods
than before), so what plan() waits for stays to be waited for.
"""

from __future__ import annotations

import dataclasses

from modelpilot.operator.rollout.actions import (
    Action,
    CreateTrainingJob,
    DeleteDeployment,
    DeleteJob,
    DeleteService,
    EnsureService,
    EnsureServingDeployment,
    FinalizeRoutes,
    ScaleDeployment,
    SetWeights,
)
from modelpilot.operator.rollout.world import (
    ObservedDeployment,
    ObservedJob,
    ObservedService,
    World,
)
from modelpilot.operator.routers.weights import Weights


def apply_to_world(world: World, actions: tuple[Action, ...]) -> World:
    """The world observed after `actions` were applied (this tick's analysis is consumed)."""
    jobs = dict(world.jobs)
    deployments = dict(world.deployments)
    services = dict(world.services)
    route = world.route_weights
    for action in actions:
        match action:
            case CreateTrainingJob(name=name, revision=revision):
                jobs.setdefault(revision, ObservedJob(name=name, revision=revision))
            case DeleteJob(name=name):
                jobs = {r: j for r, j in jobs.items() if j.name != name}
            case EnsureServingDeployment():
                old = deployments.get(action.revision)
                deployments[action.revision] = ObservedDeployment(
                    name=action.name,
                    revision=action.revision,
                    replicas=action.replicas,
                    ready_replicas=0 if old is None else min(old.ready_replicas, action.replicas),
                    updated_replicas=0 if old is None else old.updated_replicas,
                    intent_hash=action.intent_hash(),
                    pod_ips=() if old is None else old.pod_ips,
                )
            case ScaleDeployment(name=name, replicas=replicas):
                for revision, old in deployments.items():
                    if old.name == name:
                        deployments[revision] = dataclasses.replace(
                            old, replicas=replicas, ready_replicas=min(old.ready_replicas, replicas)
                        )
            case DeleteDeployment(name=name):
                deployments = {r: d for r, d in deployments.items() if d.name != name}
            case EnsureService(name=name, selector=selector):
                services[name] = ObservedService(name, dict(selector))
            case DeleteService(name=name):
                services.pop(name, None)
            case SetWeights(stable=stable, canary=canary):
                route = Weights(stable=stable, canary=canary)
            case FinalizeRoutes(promoted=promoted):
                route = Weights.CANARY_ONLY if promoted else Weights.STABLE_ONLY
            case _:
                raise TypeError(f"unknown action {action!r}")
    return dataclasses.replace(
        world,
        jobs=jobs,
        deployments=deployments,
        services=services,
        route_weights=route,
        analysis=None,
    )
