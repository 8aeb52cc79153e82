"""The fake Telnyx Call Control REST API (v2) as a bare ASGI app: Bearer auth, routing, JSON,
Telnyx's error shape, recording.

Routes:

* ``POST /v2/calls`` (dial) -> 200 ``{"data": {call_control_id, call_leg_id, ...}}``,
* ``GET /v2/calls/<call_control_id>`` -> 200 ``{"data": {..., "is_alive"}}``,
* ``POST /v2/calls/<call_control_id>/actions/<action>`` -> 200
  ``{"data": {"result": "ok"}}``.

Errors are always ``{"errors": [{"code": "<string>", "title", "detail", "source"?:
{"pointer"}}]}``: a wrong or missing ``Authorization: Bearer <api key>`` -> 401 (code 10009);
an unparseable body -> 400 (10015); an unknown path or call -> 404 (10005); what the
operations refuse -> their :class:`ApiFailure` (422 for invalid values and call states).
Every request is recorded (method, path, decoded JSON body, headers without
``Authorization``). The semantics live behind :class:`CallOperations` (the
:class:`~voicecall_cli.simulator.telnyx.simulator.TelnyxSimulator`); this module imports
nothing of the simulator's but its records. The body checks the operations share (E.164
numbers, base64 ``client_state``, ``timeout_secs``, the ``stream_*`` fields) are here too;
the ASGI plumbing (lifespan, the capped body, sending the response) is
:mod:`voicecall_cli.simulator.serving`'s.

Resource handling: holds no resources; hypercorn (owned by the simulator) owns the sockets.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

from voicecall_cli.simulator.serving import Request, Response, RestApp
from voicecall_cli.simulator.telnyx.call import StreamRequest

_DIAL = re.compile(r"^/v2/calls/?$")
_CALL = re.compile(r"^/v2/calls/(?P<id>[^/]+)/?$")
_ACTION = re.compile(r"^/v2/calls/(?P<id>[^/]+)/actions/(?P<action>[^/]+)/?$")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One REST request the fake Telnyx received.

    ``body`` is the decoded JSON (None when empty or not JSON); ``headers`` are lower-cased,
    ``authorization`` left out; ``status`` is what the simulator answered.
    """

    method: str
    path: str
    body: Any
    headers: dict[str, str]
    authorized: bool
    status: int

    def get(self, name: str) -> Any:
        """Field ``name`` of a JSON object body (None when absent)."""
        return self.body.get(name) if isinstance(self.body, dict) else None


class ApiFailure(Exception):
    """A Telnyx error response: HTTP ``status`` and one error object."""

    def __init__(self, status: int, code: str, title: str, detail: str,
                 pointer: str | None = None) -> None:
        super().__init__(status, code, title, detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.pointer = pointer

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "title": self.title, "detail": self.detail}
        if self.pointer is not None:
            error["source"] = {"pointer": self.pointer}
        return {"errors": [error]}


def not_found(detail: str) -> ApiFailure:
    return ApiFailure(404, "10005", "Resource not found", detail)


def invalid(detail: str, pointer: str | None = None, code: str = "10015",
            title: str = "Bad Request") -> ApiFailure:
    return ApiFailure(422, code, title, detail, pointer)


def auth_failed() -> ApiFailure:
    return ApiFailure(401, "10009", "Authentication failed",
                      "The required authentication headers were either invalid or not "
                      "included in the request.")


E164 = re.compile(r"^\+[1-9]\d{1,14}$")
STREAM_TRACKS = ("inbound_track", "outbound_track", "both_tracks")
BIDIRECTIONAL_MODES = ("mp3", "rtp")
BIDIRECTIONAL_CODECS = ("PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16")
SAMPLING_RATES = (8000, 16000, 24000)
STREAM_KEYS = frozenset({
    "stream_url", "stream_track", "stream_codec", "stream_bidirectional_mode",
    "stream_bidirectional_codec", "stream_bidirectional_sampling_rate",
    "stream_bidirectional_target_legs", "stream_auth_token"})


def e164(body: dict[str, Any], name: str) -> str:
    """Required field ``name``, an E.164 number (422 10004 when missing, 10016 when not)."""
    value = body.get(name)
    if value is None or value == "":
        raise invalid(f"The '{name}' parameter is required.", f"/{name}", "10004",
                      "Missing required parameter")
    if not isinstance(value, str) or not E164.match(value):
        raise invalid(f"The '{name}' parameter must be in +E.164 format.", f"/{name}",
                      "10016", "Phone number must be in +E.164 format")
    return value


def client_state(body: dict[str, Any]) -> str | None:
    """The body's ``client_state`` (None when absent); 422 unless valid base64."""
    value = body.get("client_state")
    if value is None:
        return None
    try:
        if not isinstance(value, str) or not value:
            raise ValueError
        base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise invalid("client_state must be a valid Base-64 encoded string.",
                      "/client_state") from None
    return value


def timeout_secs(body: dict[str, Any], default: int = 30) -> int:
    value = body.get("timeout_secs", default)
    if isinstance(value, bool) or not isinstance(value, int) or not 5 <= value <= 120:
        raise invalid("timeout_secs must be an integer from 5 to 120.", "/timeout_secs")
    return value


def stream_request(body: dict[str, Any], *, required: bool = False) -> StreamRequest | None:
    """The ``stream_*`` fields as a :class:`StreamRequest` (None without ``stream_url``)."""
    url = body.get("stream_url")
    if not url:
        if required:
            raise invalid("The 'stream_url' parameter is required.", "/stream_url", "10004",
                          "Missing required parameter")
        return None
    if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
        raise invalid("stream_url must be a ws:// or wss:// URL.", "/stream_url")

    def choice(name: str, allowed: tuple[Any, ...], default: Any) -> Any:
        value = body.get(name, default)
        if value is not None and value not in allowed:
            raise invalid(f"{name} must be one of {', '.join(map(str, allowed))}.", f"/{name}")
        return value

    token = body.get("stream_auth_token")
    legs = body.get("stream_bidirectional_target_legs")
    codec = body.get("stream_codec")
    return StreamRequest(
        url=url, token=str(token) if token is not None else None,
        track=choice("stream_track", STREAM_TRACKS, "inbound_track"),
        codec=str(codec) if codec is not None else None,
        bidirectional_mode=choice("stream_bidirectional_mode", BIDIRECTIONAL_MODES, None),
        bidirectional_codec=choice("stream_bidirectional_codec", BIDIRECTIONAL_CODECS, "PCMU"),
        bidirectional_sampling_rate=choice("stream_bidirectional_sampling_rate",
                                           SAMPLING_RATES, 8000),
        bidirectional_target_legs=str(legs) if legs is not None else None)


@dataclass(frozen=True, slots=True)
class InjectedFailure:
    """A response the next authorised request gets instead of being served."""

    status: int
    body: str
    content_type: str = "application/json"


class CallOperations(Protocol):
    """What the REST routes act on. Each operation returns the ``data`` object, or raises
    :class:`ApiFailure`."""

    requests: list[RecordedRequest]

    def dial(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def call_resource(self, call_control_id: str) -> dict[str, Any]: ...

    def command(self, call_control_id: str, action: str,
                body: dict[str, Any]) -> dict[str, Any]: ...


class FakeTelnyxApi(RestApp):
    """ASGI callable for the fake REST API, bound to one :class:`CallOperations`; the ASGI
    plumbing is :class:`~voicecall_cli.simulator.serving.RestApp`'s."""

    def __init__(self, operations: CallOperations, *, api_key: str) -> None:
        self._ops = operations
        self._expected_auth = f"Bearer {api_key}"
        self.injected: list[InjectedFailure] = []

    def respond(self, request: Request) -> Response:
        method, path, raw = request.method, request.path, request.body
        headers = dict(request.headers)
        authorized = hmac.compare_digest(headers.pop("authorization", "").encode(),
                                         self._expected_auth.encode())
        try:
            if not authorized:
                raise auth_failed()
            if self.injected:
                injected = self.injected.pop(0)
                status, payload, content_type = (injected.status, injected.body,
                                                 injected.content_type)
            else:
                status, data = self._serve(method, path, _decode(raw))
                payload, content_type = json.dumps({"data": data}), "application/json"
        except ApiFailure as failure:
            status, payload = failure.status, json.dumps(failure.body())
            content_type = "application/json"
        self._ops.requests.append(RecordedRequest(method, path, _json_or_none(raw), headers,
                                                  authorized, status))
        return Response(status, payload, content_type)

    def _serve(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if (match := _ACTION.match(path)) is not None:
            if method != "POST":
                raise not_found(f"{method} {path} is not a route")
            return 200, self._ops.command(match["id"], match["action"], body)
        if _DIAL.match(path) is not None and method == "POST":
            return 200, self._ops.dial(body)
        if (match := _CALL.match(path)) is not None and method == "GET":
            return 200, self._ops.call_resource(match["id"])
        raise not_found(f"{method} {path} is not a route")


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None


def _decode(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiFailure(400, "10015", "Bad Request",
                         "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiFailure(400, "10015", "Bad Request", "The request body must be a JSON object.")
    return body
