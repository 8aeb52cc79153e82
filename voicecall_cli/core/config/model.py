"""The validated configuration value handed to the daemon, the providers and the CLI.

A :class:`VoiceCallConfig` is built only by the loader (``load_config``/``parse_config_text``):
its ``data`` has passed validation and carries every default. It is a plain value: nothing in
it holds a resource. Its ``repr`` never shows secrets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from voicecall_cli.core.config.errors import ConfigError
from voicecall_cli.core.config.redact import redact
from voicecall_cli.core.config.schema import MOCK_FROM_NUMBER
from voicecall_cli.core.config.validate import lookup

DISABLED_MESSAGE = "voice calls are disabled (enabled = false)"


def normalize_url_path(path: str) -> str:
    """A webhook path as served: leading ``/``, no trailing ``/``, empty means ``/``."""
    path = path.strip()
    if not path.startswith("/"):
        path = "/" + path
    return path.rstrip("/") or "/"


class VoiceCallConfig:
    """Validated configuration (camelCase keys, as in the file) plus what the loader noticed.

    * ``data``: the effective configuration with defaults applied (secrets included: print
      :meth:`redacted` instead).
    * ``source``: the file it came from, or None for built-in defaults and strings.
    * ``warnings``: messages for the user (deprecated values, insecure settings).
    * ``env_sources``: ``{dotted path: environment variable}`` for values taken from the env.
    * ``disabled_path``: the key that switched voice calls off, or None when enabled.
    * ``key_prefix``: what names this configuration's keys in messages
      (``plugins.entries.voice-call.config`` for a whole OpenClaw file, else empty).
    """

    __slots__ = ("data", "disabled_path", "env_sources", "key_prefix", "source", "warnings")

    def __init__(self, data: dict[str, Any], *, source: Path | None = None,
                 warnings: Iterable[str] = (), env_sources: Mapping[str, str] | None = None,
                 disabled_path: str | None = None, key_prefix: str = "") -> None:
        self.data = data
        self.source = source
        self.warnings: list[str] = list(warnings)
        self.env_sources: dict[str, str] = dict(env_sources or {})
        self.disabled_path = disabled_path
        self.key_prefix = key_prefix

    def key(self, path: str) -> str:
        """The dotted ``path`` as messages name it (with :attr:`key_prefix`)."""
        return f"{self.key_prefix}.{path}" if self.key_prefix else path

    def __repr__(self) -> str:
        return f"VoiceCallConfig(provider={self.provider!r}, source={self.source!r})"

    def get(self, path: str, default: Any = None) -> Any:
        """The value at a dotted key path (``"serve.port"``), or ``default`` when unset."""
        return lookup(self.data, path, default)

    def redacted(self) -> dict[str, Any]:
        """A copy of :attr:`data` with every secret that is set replaced by ``***``."""
        return redact(self.data)

    @property
    def enabled(self) -> bool:
        return self.disabled_path is None

    def require_enabled(self) -> None:
        """Raise :class:`ConfigError` at the ``enabled`` key when voice calls are switched off
        (the daemon calls this; ``config validate`` reports :attr:`enabled` instead)."""
        if self.disabled_path is not None:
            raise ConfigError.single(self.disabled_path, DISABLED_MESSAGE)

    @property
    def provider(self) -> str:
        return self.data["provider"]

    @property
    def from_number(self) -> str | None:
        """``fromNumber``; the mock provider's ``+15550000000`` when it is unset for mock."""
        number = self.data.get("fromNumber")
        if number is None and self.provider == "mock":
            return MOCK_FROM_NUMBER
        return number

    @property
    def serve_bind(self) -> str:
        return self.data["serve"]["bind"]

    @property
    def serve_port(self) -> int:
        return self.data["serve"]["port"]

    @property
    def serve_path(self) -> str:
        return normalize_url_path(self.data["serve"]["path"])

    @property
    def store_dir(self) -> Path:
        return Path(self.data["store"])

    @property
    def control_socket(self) -> str | None:
        return self.data.get("controlSocket")

    @property
    def mock(self) -> dict[str, Any]:
        return self.data["mock"]
