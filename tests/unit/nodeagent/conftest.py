"""The node agent is test tooling under hack/, not part of the modelpilot distribution."""

import sys
from pathlib import Path

HACK = Path(__file__).resolve().parents[3] / "hack"
if str(HACK) not in sys.path:
    sys.path.insert(0, str(HACK))
