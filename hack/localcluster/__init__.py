"""The local Kubernetes test bed: control-plane processes, PKI and their lifecycle."""
