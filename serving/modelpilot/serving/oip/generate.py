"""Regenerates the protobuf and gRPC modules beside this file from open_inference.proto.

The generated modules are committed (not built at install time) so that `pip install
modelpilot[serving]` and the serving image need no protoc and no grpcio-tools; the dev extra
pins grpcio-tools, and tests/unit/serving/test_serving_grpc.py checks that running this
again reproduces the committed files byte for byte.

    python -m modelpilot.serving.oip.generate [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_ROOT = HERE.parents[2]  # serving/: the import path below it is modelpilot/serving/oip
PROTO = HERE / "open_inference.proto"
GENERATED = ("open_inference_pb2.py", "open_inference_pb2.pyi", "open_inference_pb2_grpc.py")


def generate(out: Path) -> dict[str, bytes]:
    """Runs protoc into `out` (a source root); returns {file name: content}."""
    from grpc_tools import protoc

    relative = PROTO.relative_to(SOURCE_ROOT)
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{SOURCE_ROOT}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(relative),
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")
    target = out / relative.parent
    return {name: (target / name).read_bytes() for name in GENERATED}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="directory for the modules")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in generate(Path(tmp)).items():
            (args.out / name).write_bytes(content)
            print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
