"""`python -m nodeagent ...` (with PYTHONPATH=hack): run the local node agent until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from nodeagent.agent import Agent, Config


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nodeagent", description=__doc__)
    p.add_argument("--kubeconfig", type=Path, required=True)
    p.add_argument("--node-name", default="local-node")
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--bridge", default="mp0")
    p.add_argument("--bridge-ip", default="10.244.0.1")
    p.add_argument("--pod-cidr", default="10.244.0.0/24")
    p.add_argument("--service-cidr", default="10.96.0.0/16")
    p.add_argument("--apiserver-host", default="10.244.0.1")
    p.add_argument("--apiserver-port", type=int, default=6443)
    p.add_argument("--kubelet-port", type=int, default=10250)
    p.add_argument("--kubernetes-version", default="v1.37.2")
    p.add_argument("--pki-dir", type=Path, required=True)
    p.add_argument("--venv-bin", default=str(Path(sys.executable).parent))
    p.add_argument(
        "--entrypoints",
        type=Path,
        default=Path(__file__).with_name("entrypoints.yaml"),
        help="image -> entrypoint table for containers that set no command",
    )
    p.add_argument(
        "--services-only",
        action="store_true",
        help="beside a real kubelet: only ClusterIPs, cluster DNS and the volume provisioner",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(threadName)s %(message)s",
    )
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    cfg = Config(
        kubeconfig=args.kubeconfig,
        node_name=args.node_name,
        state_dir=args.state_dir,
        bridge=args.bridge,
        bridge_ip=args.bridge_ip,
        pod_cidr=args.pod_cidr,
        apiserver_host=args.apiserver_host,
        apiserver_port=args.apiserver_port,
        kubelet_port=args.kubelet_port,
        kubernetes_version=args.kubernetes_version,
        pki_dir=args.pki_dir,
        venv_bin=args.venv_bin,
        python=sys.executable,
        entrypoints_file=args.entrypoints,
        service_cidr=args.service_cidr,
    )
    agent = Agent(cfg)
    signal.signal(signal.SIGTERM, lambda *_: agent.stop.set())
    signal.signal(signal.SIGINT, lambda *_: agent.stop.set())
    if args.services_only:
        agent.run_services_only()
    else:
        agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
