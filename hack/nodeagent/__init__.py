"""What the local cluster runs beside its nodes (test tooling, never shipped).

- `python -m nodeagent` (hack/localcluster starts it beside the real kubelet): what a
  kube-proxy, CoreDNS and a volume provisioner would do, kept on this cluster's bridge —
  ClusterIPs and cluster DNS (`services`) and one directory per claim (`provisioner`).
- `python -m nodeagent.hollow` (bench/operator_scale.py): a kubemark-style hollow node whose
  pods run no process (`hollow`, `hollow_http`, `node`).

`kube` is their small API client.
"""
