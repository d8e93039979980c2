"""The kopf operator: watches ModelDeployments and drives each through train, gate, canary.

Layers, top to bottom (checked by import-linter, see pyproject.toml): `handlers` (the kopf
shell: watch events nudge) > `workqueue` (one loop per object, back-off) > `reconcile` (one
tick: observe, plan, write status, apply) > `apply` | `live` | `observe` (the I/O edge) >
`objects` | `route_clients` > `cluster` (the apiserver as plain JSON) > `errors` | `rollout`
(the pure state machine) > `routers` | `analysis` (traffic and metrics backends) > `settings`.
"""
