"""Redaction: the effective configuration with every secret replaced by ``***``.

Used by ``config show``, the daemon's logs and anything else that prints configuration. The
secret keys are the schema's (``Str(secret=True)``): carrier credentials, the ngrok token and
the OpenAI/ElevenLabs API keys.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from voicecall_cli.core.config.schema import SECRET_PATHS

REDACTED = "***"


def redact(data: Mapping[str, Any], secret_paths: tuple[str, ...] = SECRET_PATHS) -> dict:
    """A deep copy of ``data`` with each secret that is set replaced by ``***``."""
    out = copy.deepcopy(dict(data))
    for path in secret_paths:
        *parents, leaf = path.split(".")
        node: Any = out
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(leaf) is not None:
            node[leaf] = REDACTED
    return out
