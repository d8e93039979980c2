"""The local node agent: a small kubelet for the modelpilot test bed (never shipped).

It registers one Node, keeps its Lease and status fresh, and runs every Pod the scheduler binds
to it as local processes of the project's Python environment, each pod in its own network and
mount namespace. Pure decisions (pod spec -> process plan, process exits -> pod status) live in
`plan` and `status`; everything that touches the kernel or the API server lives elsewhere.
"""
