"""`python -m localcluster up|down|status|env` (with PYTHONPATH=hack); `make cluster-up` runs it."""

from __future__ import annotations

import argparse
import sys

from localcluster import registry
from localcluster.cluster import Layout, StartupError, down, locked, status, up


def exports(lay: Layout) -> str:
    """What `eval "$(make -s cluster-up)"` sets: the cluster's kubeconfig, its binaries, and
    its registry as the default of `make release`."""
    return (
        f"export KUBECONFIG={lay.kubeconfig}\n"
        f'export PATH="{lay.bin}:$PATH"\n'
        f"export MODELPILOT_REGISTRY={registry.address(lay.index)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcluster", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "status", "env"))
    args = parser.parse_args(argv)
    try:
        lay = Layout.from_env()
    except ValueError as err:
        print(f"localcluster: {err}", file=sys.stderr)
        return 2
    if args.command == "up":
        try:
            with locked(lay):
                took = up(lay)
        except StartupError as err:
            print(f"cluster-up failed: {err}", file=sys.stderr)
            print(f"logs: {lay.logs}", file=sys.stderr)
            return 1
        print(
            f"# local cluster ready in {took:.1f}s; node {lay.node_name} Ready; logs in {lay.logs}",
            file=sys.stderr,
        )
        print(exports(lay))
    elif args.command == "down":
        with locked(lay):
            down(lay)
    elif args.command == "status":
        for name, pid in status(lay).items():
            print(f"{name:25} {'running, pid ' + str(pid) if pid else 'stopped'}")
    else:
        print(exports(lay))
    return 0


if __name__ == "__main__":
    sys.exit(main())
