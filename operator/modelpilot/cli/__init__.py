"""The `modelpilot` command: one entry point for people and for the three images.

Each verb imports its component lazily, so the serving image (installed with only the
`[serving]` extra) can run `modelpilot serve` without kopf or the Kubernetes client.
"""
