"""Request bodies of the control API, named after the RPC methods (``voicecall.initiate``...).

Field names are the wire names (camelCase, as in the seed's Gateway RPC). ``parse`` turns a
decoded JSON body into the dataclass or raises :class:`ApiError` ``bad_request`` naming the field,
before the daemon acts on any of it: every string must be valid Unicode text (no lone
surrogates, which could never be written out again as UTF-8) and every integer must lie in its
field's range (:data:`INT_RANGES`), so absurd values never reach a call.
Responses are plain JSON objects whose shapes are documented on each request class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from voicecall_cli.protocol.errors import ApiError, ErrorCode
from voicecall_cli.protocol.text import E164_EXAMPLE, invalid_text_message, is_e164

CALL_MODES = ("notify", "conversation")

T = TypeVar("T", bound="Request")


@dataclass(frozen=True)
class Request:
    """Base of every request body; ``METHOD`` is the RPC name used in the URL path."""

    METHOD: ClassVar[str] = ""
    # Python field name -> wire name, where the wire name is not a Python identifier.
    WIRE_NAMES: ClassVar[dict[str, str]] = {}

    @classmethod
    def parse(cls: type[T], body: Any) -> T:
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ApiError(ErrorCode.BAD_REQUEST, "request body must be a JSON object")
        known = {cls.WIRE_NAMES.get(f.name, f.name): f for f in dataclasses.fields(cls)}
        unknown = sorted(set(body) - set(known))
        if unknown:
            raise ApiError(ErrorCode.BAD_REQUEST, f"unknown field {unknown[0]!r}")
        values: dict[str, Any] = {}
        for name, field in known.items():
            value = body.get(name)
            required = field.default is dataclasses.MISSING
            if value is None:
                if required:
                    raise ApiError(ErrorCode.BAD_REQUEST, f"{name} required")
                continue
            expected = _FIELD_TYPES.get(name, str)
            if expected is bool and not isinstance(value, bool):
                raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be true or false")
            if expected is int:
                value = _checked_int(name, value)
            if expected is str:
                if not isinstance(value, str):
                    raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be a string")
                problem = invalid_text_message(name, value)
                if problem:
                    raise ApiError(ErrorCode.BAD_REQUEST, problem)
                value = value.strip()
                if required and not value:
                    raise ApiError(ErrorCode.BAD_REQUEST, f"{name} required")
            values[field.name] = value
        request = cls(**values)
        request.check()
        return request

    def check(self) -> None:
        """Cross-field rules; raise ``bad_request``."""

    def to_body(self) -> dict[str, Any]:
        return {self.WIRE_NAMES.get(k, k): v for k, v in dataclasses.asdict(self).items()
                if v is not None}


_FIELD_TYPES: dict[str, type] = {"timeoutMs": int, "since": int, "limit": int, "last": int,
                                "record": bool}
CALL_LIST_LIMIT = 1000  # at most this many calls in one voicecall.calls answer
LATENCY_LAST_LIMIT = 1000  # at most this many turns in one voicecall.latency answer
LATENCY_LAST_DEFAULT = 200
MAX_TIMEOUT_MS = 24 * 3600 * 1000  # continue's wait for a reply: a day at most
MAX_EPOCH_MS = 2**53 - 1  # beyond any date, and still exact in every JSON reader
# Integer field -> (lowest, highest, the message when the value is out of range).
INT_RANGES: dict[str, tuple[int, int, str]] = {
    "timeoutMs": (1, MAX_TIMEOUT_MS, "timeoutMs must be positive and at most "
                                     f"{MAX_TIMEOUT_MS} (24 hours)"),
    "since": (0, MAX_EPOCH_MS, "since must be epoch milliseconds"),
    "limit": (1, CALL_LIST_LIMIT, f"limit must be between 1 and {CALL_LIST_LIMIT}"),
    "last": (1, LATENCY_LAST_LIMIT, f"last must be between 1 and {LATENCY_LAST_LIMIT}"),
}


def _checked_int(name: str, value: Any) -> int:
    """``value`` when it is a JSON integer within ``name``'s range; ``bad_request`` naming the
    field otherwise (compared, never printed: the value may have thousands of digits)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(ErrorCode.BAD_REQUEST, f"{name} must be an integer")
    low, high, message = INT_RANGES[name]
    if not low <= value <= high:
        if name == "timeoutMs" and value <= 0:
            message = "timeoutMs must be positive"
        raise ApiError(ErrorCode.BAD_REQUEST, message)
    return value
# voicecall.calls ``state``: one call state, or one of these groups.
CALL_STATE_GROUPS = ("active", "ended")


CALL_ORIGINS = ("cli", "mcp", "api")
IDEMPOTENCY_KEY_MAX = 200
OBJECTIVE_MAX = 2000  # characters of a call's objective (a brief, not a document)


@dataclass(frozen=True)
class InitiateRequest(Request):
    """``voicecall.initiate`` -> ``{"callId": str, "initiated": true}``.

    Every outbound rail (``outbound.allowTo``, ``outbound.quietHours``,
    ``outbound.maxCallsPerHour``...) is applied first: a refusal is the error ``refused`` with
    the ``rail`` (its config key) in the error object.

    ``idempotencyKey``: the same key within 24 hours answers with the first call's id and
    ``"replayed": true``, and never dials again (also across daemon restarts); the same key
    with a different request is a ``conflict``.

    ``origin`` says who asks (``cli``, ``mcp``, ``api`` when absent). With ``origin: "mcp"`` and
    ``mcp.requireConfirmation`` set, a request without ``confirmToken`` dials nothing and
    answers ``{"initiated": false, "confirmationRequired": true, "confirmToken", "expiresAt",
    "preview": {"to", "from", "mode", "message", "objective"?}}``; the same request again with
    that token (single use, valid until ``expiresAt``) places the call.

    ``objective``: a private brief for the auto-responder on this (conversation) call, at most
    :data:`OBJECTIVE_MAX` characters. It goes into the model's system context for every reply
    on the call and is never spoken; the call keeps it as ``metadata.objective``.

    ``record: true`` records the call at the carrier once it is answered (as
    ``recording.enabled`` does for every call); the recording's URL comes later on the call
    (``recording``) and as a ``call.recording`` event. A provider that cannot record refuses
    it (``bad_request``).
    """

    METHOD: ClassVar[str] = "voicecall.initiate"
    WIRE_NAMES: ClassVar[dict[str, str]] = {"from_": "from"}
    message: str
    to: str | None = None
    mode: str | None = None
    from_: str | None = None  # on the wire: "from" (default: the config's fromNumber)
    idempotencyKey: str | None = None
    origin: str | None = None
    confirmToken: str | None = None
    objective: str | None = None
    record: bool | None = None

    def check(self) -> None:
        for wire, number in (("to", self.to), ("from", self.from_)):
            if number is not None and not is_e164(number):
                raise ApiError(ErrorCode.BAD_REQUEST,
                               f"{wire}: Expected E.164 format, e.g. {E164_EXAMPLE}")
        if self.mode is not None and self.mode not in CALL_MODES:
            raise ApiError(ErrorCode.BAD_REQUEST, "mode must be 'notify' or 'conversation'")
        key = self.idempotencyKey
        if key is not None and not (
                0 < len(key) <= IDEMPOTENCY_KEY_MAX and key.isascii() and key.isprintable()):
            raise ApiError(ErrorCode.BAD_REQUEST,
                           f"idempotencyKey must be 1 to {IDEMPOTENCY_KEY_MAX} printable "
                           "ASCII characters")
        if self.origin is not None and self.origin not in CALL_ORIGINS:
            raise ApiError(ErrorCode.BAD_REQUEST, "origin must be 'cli', 'mcp' or 'api'")
        if self.objective is not None:
            if not self.objective:
                raise ApiError(ErrorCode.BAD_REQUEST, "objective must not be blank")
            if len(self.objective) > OBJECTIVE_MAX:
                raise ApiError(ErrorCode.BAD_REQUEST,
                               f"objective must be at most {OBJECTIVE_MAX} characters "
                               f"(it has {len(self.objective)})")


CONTINUE_ACCEPTS = ("speech", "dtmf", "both")


@dataclass(frozen=True)
class ContinueRequest(Request):
    """``voicecall.continue`` -> ``{"success": true, "transcript": str}``; with ``accept``
    ``dtmf`` or ``both`` also ``"input": "speech" | "dtmf"`` and, when the caller answered
    with keys, ``"digits": str``.

    ``accept`` (default ``speech``): what answers the turn: the caller's speech, their touch
    tones (``dtmf``: the keys pressed until ``#`` or a pause, without the ``#``) or whichever
    comes first (``both``). ``transcript`` is the answer either way (the digits for ``dtmf``),
    so clients that read only ``transcript`` keep working.
    """

    METHOD: ClassVar[str] = "voicecall.continue"
    callId: str
    message: str
    timeoutMs: int | None = None
    accept: str | None = None

    def check(self) -> None:
        if self.accept is not None and self.accept not in CONTINUE_ACCEPTS:
            raise ApiError(ErrorCode.BAD_REQUEST, "accept must be 'speech', 'dtmf' or 'both'")


DTMF_CHARACTERS = frozenset("0123456789*#wW")
MAX_DTMF_DIGITS = 64  # touch tones in one voicecall.dtmf request (pauses included)


def dtmf_problem(digits: str) -> str | None:
    """Why ``digits`` cannot be sent as touch tones (None when it can): 0-9, ``*``, ``#``, and
    ``w``/``W`` (a pause of half a second / one second), 1 to :data:`MAX_DTMF_DIGITS` of them."""
    if not digits:
        return "digits required"
    if len(digits) > MAX_DTMF_DIGITS:
        return f"digits: at most {MAX_DTMF_DIGITS} characters"
    bad = next((c for c in digits if c not in DTMF_CHARACTERS), None)
    if bad is not None:
        shown = repr(bad) if bad.isprintable() else f"U+{ord(bad):04X}"
        return (f"digits may only hold 0-9, *, # and w/W (a pause); {shown} is not "
                "a touch tone")
    return None


@dataclass(frozen=True)
class DtmfRequest(Request):
    """``voicecall.dtmf`` -> ``{"success": true}`` once the carrier accepted the touch tones
    (see :func:`dtmf_problem` for what ``digits`` may hold). A call that still rings is waited
    for, as for ``speak``."""

    METHOD: ClassVar[str] = "voicecall.dtmf"
    callId: str
    digits: str

    def check(self) -> None:
        problem = dtmf_problem(self.digits)
        if problem is not None:
            raise ApiError(ErrorCode.BAD_REQUEST, problem)


@dataclass(frozen=True)
class SpeakRequest(Request):
    """``voicecall.speak`` -> ``{"success": true}``."""

    METHOD: ClassVar[str] = "voicecall.speak"
    callId: str
    message: str


@dataclass(frozen=True)
class EndRequest(Request):
    """``voicecall.end`` -> ``{"success": true}``."""

    METHOD: ClassVar[str] = "voicecall.end"
    callId: str


@dataclass(frozen=True)
class StatusRequest(Request):
    """``voicecall.status``.

    With ``callId``: ``{"found": true, "call": {...}}`` or ``{"found": false}`` (ended calls are
    found too, from the store). Without: ``{"calls": [...]}``, the active calls.
    """

    METHOD: ClassVar[str] = "voicecall.status"
    callId: str | None = None


@dataclass(frozen=True)
class CallsRequest(Request):
    """``voicecall.calls`` -> ``{"calls": [...]}``: past and present calls, newest first.

    ``state``: one call state, ``active`` or ``ended``; ``since``: calls started at or after
    this time (epoch ms); ``limit``: at most this many (default 20, at most 1000).
    """

    METHOD: ClassVar[str] = "voicecall.calls"
    state: str | None = None
    since: int | None = None
    limit: int | None = None


EXPOSE_MODES = ("funnel", "serve", "off")


@dataclass(frozen=True)
class ExposeRequest(Request):
    """``voicecall.expose``: put the running daemon behind Tailscale ``serve`` or ``funnel``
    (the webhook at ``path``, default ``serve.path``; the stream path beside it), or ``off``.

    -> ``{"ok", "mode", "path", "localUrl", "publicUrl", "streamUrl"}``, plus ``"error"`` and
    ``"hint"`` (``{"note", "enableUrl"}``) when ``ok`` is false (the previous exposure stays).
    """

    METHOD: ClassVar[str] = "voicecall.expose"
    mode: str
    path: str | None = None

    def check(self) -> None:
        if self.mode not in EXPOSE_MODES:
            raise ApiError(ErrorCode.BAD_REQUEST, "mode must be 'funnel', 'serve' or 'off'")
        if self.path is not None and (not self.path.startswith("/") or len(self.path) > 200
                                      or any(c.isspace() or c in "?#" for c in self.path)):
            raise ApiError(ErrorCode.BAD_REQUEST,
                           "path must start with / and hold no spaces, ? or #")


@dataclass(frozen=True)
class DoctorRequest(Request):
    """``daemon.doctor`` -> ``{"checks": [{"name", "status", "summary", "fix"?}, ...]}``: the
    daemon's own readiness checks (status ``ok``, ``warn``, ``fail`` or ``skip``); see
    ``voicecall doctor``."""

    METHOD: ClassVar[str] = "daemon.doctor"


@dataclass(frozen=True)
class LatencyRequest(Request):
    """``voicecall.latency``: the auto-reply turns' waterfalls from the stored ``call.latency``
    events, and each stage's percentiles over them.

    ``callId``: one call's turns (a unique prefix will do); ``last``: the newest this many turns
    (default :data:`LATENCY_LAST_DEFAULT`, 1 to :data:`LATENCY_LAST_LIMIT`).
    -> ``{"turns": [row, ...], "summary": {...}}``, oldest turn first; the shapes are
    :func:`voicecall_cli.protocol.latency.latency_result`'s.
    """

    METHOD: ClassVar[str] = "voicecall.latency"
    callId: str | None = None
    last: int | None = None


class ReloadRequest(Request):
    """``daemon.reload`` -> ``{"ok": true, "applied": [...], "needsRestart": [...]}``: the
    daemon reads its config file again; ``applied`` names the changed keys now in effect,
    ``needsRestart`` the changed keys it keeps at their running value until a restart. An
    invalid file is refused (``config_error``, ``details.issues``) and nothing changes."""

    METHOD: ClassVar[str] = "daemon.reload"


@dataclass(frozen=True)
class StopRequest(Request):
    """``daemon.stop`` -> ``{"ok": true}``, then the daemon shuts down cleanly."""

    METHOD: ClassVar[str] = "daemon.stop"


REQUESTS: dict[str, type[Request]] = {
    cls.METHOD: cls
    for cls in (InitiateRequest, ContinueRequest, SpeakRequest, EndRequest, StatusRequest,
                CallsRequest, ExposeRequest, DoctorRequest, LatencyRequest, ReloadRequest,
                StopRequest, DtmfRequest)
}
