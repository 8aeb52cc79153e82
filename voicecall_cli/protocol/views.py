"""What the daemon answers: typed views of calls, health and RPC results (stdlib only).

The daemon builds its answers from these classes (``to_json``), and the control client reads
them back (``from_json``), so the CLI, the MCP server and the daemon share one definition; the
MCP server publishes their JSON Schema (:mod:`.schema`). Field names are the wire names
(camelCase; ``from_`` travels as ``from``). ``to_json`` always writes required fields (``None``
as null) and leaves out optional ones that are ``None``. ``from_json`` raises ``ValueError`` on
a value of the wrong shape and ignores keys it does not know (a newer daemon may add some).
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

from voicecall_cli.protocol.schema import without_none

V = TypeVar("V", bound="View")


class View:
    """Base of the views: JSON conversion driven by the dataclass fields and their hints."""

    WIRE_NAMES: ClassVar[dict[str, str]] = {}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f, _hint, required in _fields(type(self)):
            value = getattr(self, f.name)
            if value is None and not required:
                continue
            out[self.WIRE_NAMES.get(f.name, f.name)] = _to_json(value)
        return out

    @classmethod
    def from_json(cls, data: Any) -> Self:
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected a JSON object")
        values: dict[str, Any] = {}
        for f, hint, required in _fields(cls):
            name = cls.WIRE_NAMES.get(f.name, f.name)
            if name not in data and required and not _nullable(hint):
                raise ValueError(f"{cls.__name__}: no {name!r}")
            if name in data:
                values[f.name] = _from_json(hint, data[name], f"{cls.__name__}.{name}")
            elif required:
                values[f.name] = None
        return cls(**values)


@functools.cache
def _fields(cls: type) -> tuple[tuple[dataclasses.Field[Any], Any, bool], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f, hints[f.name], f.default is dataclasses.MISSING
                  and f.default_factory is dataclasses.MISSING)
                 for f in dataclasses.fields(cls))  # type: ignore[arg-type]


def _nullable(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _to_json(value: Any) -> Any:
    if isinstance(value, View):
        return value.to_json()
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return dict(value)
    return value


def _from_json(hint: Any, value: Any, where: str) -> Any:
    if value is None:
        if not _nullable(hint) and hint is not Any:
            raise ValueError(f"{where}: null is not allowed")
        return None
    hint = without_none(hint)
    args = typing.get_args(hint)
    if isinstance(hint, type) and issubclass(hint, View):
        return hint.from_json(value)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list")
        return tuple(_from_json(args[0], v, where) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object")
        return dict(value)
    if hint is bool and not isinstance(value, bool):
        raise ValueError(f"{where}: expected true or false")
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{where}: expected an integer")
    if hint is float and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"{where}: expected a number")
    if hint is str and not isinstance(value, str):
        raise ValueError(f"{where}: expected a string")
    return value


# -- calls ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TranscriptLine(View):
    """One line of a call's transcript: who spoke (bot or user), what, and when (epoch ms)."""

    timestamp: int
    speaker: str
    text: str
    isFinal: bool = True


@dataclass(frozen=True, slots=True)
class CallView(View):
    """One call as the daemon reports it (status, calls, the event stream's snapshot).

    ``endReason`` is the final state once the call has ended (``completed``, ``hangup-user``,
    ``hangup-bot``, ``busy``, ``no-answer``, ``failed``, ``timeout``, ``voicemail``: a
    conversation call a machine answered...); ``answeredAt`` is null for a call nobody answered.
    ``answeredBy`` is answering-machine detection's result (``human``, ``machine``, ``fax``,
    ``unknown``), null when detection is off or has not answered yet. ``recording`` (only on a
    recorded call, once the carrier reported it, usually after the end): ``{"url",
    "durationSec"}`` (``durationSec`` null when the carrier did not say). Times are epoch
    milliseconds.
    """

    WIRE_NAMES: ClassVar[dict[str, str]] = {"from_": "from"}
    callId: str
    providerCallId: str | None
    provider: str
    direction: str
    state: str
    from_: str
    to: str
    startedAt: int
    answeredAt: int | None
    endedAt: int | None
    endReason: str | None
    transcript: tuple[TranscriptLine, ...]
    metadata: dict[str, Any]
    answeredBy: str | None
    recording: dict[str, Any] | None = None  # {url, durationSec}: see voicecall call --record

    @property
    def ended(self) -> bool:
        return self.endedAt is not None

    @property
    def answered(self) -> bool:
        return self.answeredAt is not None

    def transcript_text(self) -> str:
        """``bot: ...`` / ``user: ...`` lines of the final transcript, in order."""
        return "\n".join(f"{line.speaker}: {line.text}" for line in self.transcript
                         if line.isFinal)


# -- health ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HealthView(View):
    """``GET /v1/health``: the running daemon, where carriers reach it, how busy it is."""

    ok: bool
    version: str
    protocol: int
    pid: int
    uptimeS: float
    provider: str
    localUrl: str | None
    webhookUrl: str | None
    publicUrl: str | None
    streamUrl: str | None
    exposure: dict[str, Any]
    activeCalls: int


# -- RPC results ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallPreview(View):
    """The call an initiate with confirmation would place, once confirmed."""

    WIRE_NAMES: ClassVar[dict[str, str]] = {"from_": "from"}
    to: str
    from_: str
    mode: str
    message: str
    objective: str | None = None  # the call's private brief for the auto-responder, if any
    record: bool | None = None  # true: the call will be recorded at the carrier


@dataclass(frozen=True, slots=True)
class InitiateResult(View):
    """``voicecall.initiate``: the placed call's id; ``replayed`` when an idempotency key
    returned an earlier call; or, when confirmation is required, a preview and the token that
    confirms it (``initiated`` false, nothing dialled)."""

    initiated: bool
    callId: str | None = None
    replayed: bool | None = None
    confirmationRequired: bool | None = None
    confirmToken: str | None = None
    expiresAt: int | None = None
    preview: CallPreview | None = None


@dataclass(frozen=True, slots=True)
class ContinueResult(View):
    """``voicecall.continue``: the caller's reply to what was said. ``input`` says how they
    answered (``speech`` or ``dtmf``; absent from daemons before touch tones); ``digits`` the
    keys pressed (``transcript`` holds them too)."""

    success: bool
    transcript: str
    input: str | None = None
    digits: str | None = None


@dataclass(frozen=True, slots=True)
class SuccessResult(View):
    """``voicecall.speak`` and ``voicecall.end``: done."""

    success: bool


@dataclass(frozen=True, slots=True)
class StatusResult(View):
    """``voicecall.status``: one call (``found`` and ``call``) or the active ``calls``."""

    found: bool | None = None
    call: CallView | None = None
    calls: tuple[CallView, ...] | None = None


@dataclass(frozen=True, slots=True)
class CallsResult(View):
    """``voicecall.calls``: past and present calls, newest first."""

    calls: tuple[CallView, ...] = ()


__all__ = [
    "CallPreview",
    "CallView",
    "CallsResult",
    "ContinueResult",
    "HealthView",
    "InitiateResult",
    "StatusResult",
    "SuccessResult",
    "TranscriptLine",
    "View",
]
