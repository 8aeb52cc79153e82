"""Which carriers have a simulator: carrier name -> the package that simulates it.

Adding a carrier's simulator is a package ``voicecall_cli/simulator/<name>/`` that exports one
``SIMULATOR`` (a :class:`voicecall_cli.simulator.base.SimulatorSpec`) plus one line below.
The names match the providers' (``provider = "<name>"`` in a config).

This module imports nothing (module paths are strings) so the CLI can list the names, for
``voicecall demo --carrier``, without loading any simulator. Only :func:`load` imports one.
"""

from __future__ import annotations

import importlib
from typing import Any

SIMULATORS: dict[str, str] = {
    "twilio": "voicecall_cli.simulator.twilio",
    "telnyx": "voicecall_cli.simulator.telnyx",
    "plivo": "voicecall_cli.simulator.plivo",
}


def names() -> tuple[str, ...]:
    """The carriers that have a simulator, in registry order."""
    return tuple(SIMULATORS)


def load(name: str) -> Any:
    """Import ``name``'s simulator package and return its ``SIMULATOR``, a
    :class:`~voicecall_cli.simulator.base.SimulatorSpec` (typed ``Any`` here so that this module
    imports nothing). Raises ``LookupError`` naming the registered ones for an unknown name.
    """
    package = SIMULATORS.get(name)
    if package is None:
        raise LookupError(f"no simulator for {name!r} (available: {', '.join(SIMULATORS)})")
    spec = importlib.import_module(package).SIMULATOR
    if spec.name != name:
        raise LookupError(f"{package}.SIMULATOR is not the {name!r} simulator's spec")
    return spec
