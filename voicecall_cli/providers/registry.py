"""Which providers exist: a name maps to its package, which exports ``PROVIDER``.

The names are the configuration's ``IMPLEMENTED_PROVIDERS`` (core, so that the configuration
knows them without importing any provider); each maps to ``voicecall_cli.providers.<name>``.
Adding a provider is its package plus its name there. The daemon opens
``load(config.provider)`` and never imports a provider package by name.
"""

from __future__ import annotations

import importlib

from voicecall_cli.core.config.schema import IMPLEMENTED_PROVIDERS
from voicecall_cli.providers.base import ProviderSpec

PACKAGES = {name: f"voicecall_cli.providers.{name}" for name in IMPLEMENTED_PROVIDERS}


def load(name: str) -> ProviderSpec:
    """The spec of provider ``name``; raises ``LookupError`` naming the known ones."""
    package = PACKAGES.get(name)
    if package is None:
        raise LookupError(f"provider {name!r} is not available in this build "
                          f"(available: {', '.join(PACKAGES)})")
    spec = importlib.import_module(package).PROVIDER
    if not isinstance(spec, ProviderSpec) or spec.name != name:
        raise LookupError(f"{package}.PROVIDER is not the {name!r} provider's spec")
    return spec
