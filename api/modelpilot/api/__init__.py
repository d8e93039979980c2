"""The contract every modelpilot component shares.

`spec` (the ModelDeployment spec types, which also generate the CRD schema), `bundle` (the
model bundle on disk), `metrics` and `gate` (how a candidate is judged), `summary` (what the
trainer reports through its termination message) and `names` (labels, annotations, the API
group). Nothing here imports another component.
"""
