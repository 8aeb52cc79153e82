"""The state the root group hands to every command: where the config and the socket are.

The socket is found as the protocol says (``--socket`` > ``VOICECALL_SOCKET`` > the config
file's ``controlSocket`` > the default). The config file is read for that only when neither the
option nor the environment names a socket and the file exists; only ``controlSocket`` is
looked at (the full validation is ``voicecall config validate``'s job). A whole OpenClaw config
file is recognised by its ``plugins.entries["voice-call"].config`` object.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.client import DEFAULT_TIMEOUT_S, ControlClient
from voicecall_cli.protocol import (
    CONFIG_ENV,
    SOCKET_ENV,
    ApiError,
    ErrorCode,
    Request,
    resolve_config_path,
    resolve_socket_path,
)

RequestT = TypeVar("RequestT", bound=Request)


@dataclass
class CliContext:
    """Global options as given (``None`` when absent) plus the environment they resolve in."""

    socket_option: str | None = None
    config_option: str | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def config_is_explicit(self) -> bool:
        """True when the user named the config file (``--config`` or ``VOICECALL_CONFIG``)."""
        return bool(self.config_option or self.env.get(CONFIG_ENV))

    @cached_property
    def config_path(self) -> Path:
        return resolve_config_path(self.config_option, self.env)

    @cached_property
    def socket_path(self) -> Path:
        configured = None
        if not self.socket_option and not self.env.get(SOCKET_ENV):
            configured = configured_control_socket(self.config_path)
        return resolve_socket_path(self.socket_option, configured, self.env)

    def client(self, timeout: float = DEFAULT_TIMEOUT_S) -> ControlClient:
        return ControlClient(self.socket_path, timeout)

    def rpc(self, request: Request, *, timeout: float = DEFAULT_TIMEOUT_S,
            expect: str | None = None) -> dict[str, Any]:
        """Send ``request`` to the daemon and return its response object.

        ``call_not_found`` becomes "no such call: ID"; a success without the ``expect`` key is
        a protocol mismatch.
        """
        call_id = getattr(request, "callId", None)
        try:
            result = self.client(timeout).call(request.METHOD, request.to_body())
        except ApiError as err:
            if err.code is ErrorCode.CALL_NOT_FOUND and call_id:
                raise CliError.from_api(err, message=f"no such call: {call_id}") from err
            raise
        if expect is not None and expect not in result:
            raise CliError.from_api(ApiError(
                ErrorCode.PROTOCOL_MISMATCH,
                f"the daemon's answer to {request.METHOD} has no {expect!r}"))
        return result


def configured_control_socket(config_path: Path) -> str | None:
    """``controlSocket`` of the config file at ``config_path``, or None (no file, no key).

    ``~`` is expanded and a relative path is taken relative to the file's directory, as the
    daemon's config loader does.

    Raises :class:`CliError` (exit 78) when the file does not parse or the value is not a
    non-empty string.
    """
    if not config_path.is_file():
        return None
    document = _load_document(config_path)
    section, prefix = _voice_call_section(document)
    value = section.get("controlSocket")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise CliError(f"{config_path}: {prefix}controlSocket: must be a non-empty path string",
                       ExitCode.CONFIG_ERROR)
    path = Path(value.strip()).expanduser()
    return str(path if path.is_absolute() else config_path.parent / path)


def _load_document(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read the config file: {exc.strerror}",
                       ExitCode.CONFIG_ERROR) from exc
    suffix = path.suffix.lower()
    try:
        if suffix in (".json", ".json5"):
            text = raw.decode("utf-8-sig")
            try:
                # Blank is an empty config, as for the loader; strict JSON is the fast path.
                document = json.loads(text) if text.strip() else {}
            except ValueError:
                import json5  # OpenClaw writes its openclaw.json in JSON5

                document = json5.loads(text)
        else:
            import tomllib

            document = tomllib.loads(raw.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        # The parser's message may quote the broken line, which may hold a secret.
        raise CliError(f"{path}: the config file does not parse", ExitCode.CONFIG_ERROR,
                       "see why with: voicecall config validate") from exc
    if not isinstance(document, dict):
        raise CliError(f"{path}: the config file must hold an object at the top level",
                       ExitCode.CONFIG_ERROR)
    return document


def _voice_call_section(document: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The voice-call config object and the key prefix that names it in messages.

    A document with a top-level ``plugins`` key is a whole OpenClaw config.
    """
    if "plugins" not in document:
        return document, ""
    node: Any = document
    for key in ("plugins", "entries", "voice-call", "config"):
        node = node.get(key) if isinstance(node, dict) else None
    return (node if isinstance(node, dict) else {}), "plugins.entries.voice-call.config."


def build_request(request_type: type[RequestT], **fields: Any) -> RequestT:
    """The request from option values, checked by the protocol's own rules (``None`` omitted).

    A value the daemon would reject (an empty message, a bad mode) fails here as ``bad_request``
    (exit 2) without a round trip.
    """
    wire = request_type.WIRE_NAMES
    return request_type.parse({wire.get(k, k): v for k, v in fields.items() if v is not None})
