"""Which extra a component verb needs, and whether it is installed.

`pip install modelpilot` is the CLI alone; `modelpilot serve` without the `[serving]` extra
would die deep in an import. The distribution's own metadata says what each extra requires,
so the check reads it instead of repeating the lists, and runs before the verb does: a
missing module inside an installed component is a bug to see, not to explain away.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, requires, version

from modelpilot.api.version import DISTRIBUTION

# The module a verb's function lives in -> the extra that installs its dependencies.
EXTRA_OF_MODULE = {
    "modelpilot.trainer": "trainer",
    "modelpilot.serving": "serving",
    "modelpilot.operator": "operator",
}
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def extra_for(module_name: str) -> str | None:
    return next(
        (
            extra
            for prefix, extra in EXTRA_OF_MODULE.items()
            if module_name == prefix or module_name.startswith(prefix + ".")
        ),
        None,
    )


def missing_requirements(extra: str) -> list[str]:
    """The distributions `extra` requires that are not installed (empty: all there)."""
    try:
        declared = requires(DISTRIBUTION) or []
    except PackageNotFoundError:  # a bare source tree: nothing to check against
        return []
    missing = []
    for requirement in declared:
        marker = _EXTRA_MARKER.search(requirement)
        if marker is None or marker.group(1) != extra:
            continue
        name = re.split(r"[=<>!~\[; (]", requirement, maxsplit=1)[0]
        try:
            version(name)
        except PackageNotFoundError:
            missing.append(name)
    return missing
