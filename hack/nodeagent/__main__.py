"""`python -m nodeagent ...` (with PYTHONPATH=hack): beside the real kubelet, what a
kube-proxy, CoreDNS and a provisioner would do, on this cluster's bridge, until SIGTERM.

The bridge itself is hack/localcluster's (it exists before this starts); the kubelet runs
the pods.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from nodeagent.kube import Kube
from nodeagent.provisioner import Provisioner
from nodeagent.services import ServiceProxy


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="nodeagent", description=__doc__)
    p.add_argument("--kubeconfig", type=Path, required=True)
    p.add_argument("--state-dir", type=Path, required=True, help="volumes/ goes below it")
    p.add_argument("--bridge", default="mp0")
    p.add_argument("--bridge-ip", default="10.244.0.1", help="where DNS answers")
    p.add_argument("--service-cidr", default="10.96.0.0/16")
    p.add_argument("--apiserver-host", default="10.244.0.1")
    p.add_argument("--apiserver-port", type=int, default=6443)
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(threadName)s %(message)s",
    )
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    kube, stop = Kube(args.kubeconfig), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Provisioner(kube, root=args.state_dir / "volumes", stop=stop).start()
    services = ServiceProxy(
        kube,
        bridge=args.bridge,
        dns_address=args.bridge_ip,
        service_cidr=args.service_cidr,
        apiserver=(args.apiserver_host, args.apiserver_port),
        stop=stop,
    )
    services.start()
    logging.getLogger("nodeagent").info("services on bridge %s", args.bridge)
    stop.wait()
    services.join(3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
