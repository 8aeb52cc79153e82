"""The fake Plivo Voice REST API as a bare ASGI app: Basic auth, routing, JSON or form bodies,
Plivo's answer and error shapes, recording.

Routes (under ``/v1/Account/<auth_id>/``, trailing slash optional):

* ``POST Call/`` -> 201 ``{"api_id", "message": "call fired", "request_uuid"}``,
* ``GET Call/<call_uuid>/?status=live`` -> 200 the live call (404 once ended);
  ``GET Call/<request_uuid>/?status=queued`` -> 200 the queued call;
  ``GET Call/<call_uuid>/`` -> 200 the call detail record, once the call ended (404 before),
* ``POST Call/<call_uuid>/`` (transfer) -> 202 ``{"api_id", "message": "call transferred"}``,
* ``DELETE Call/<call_uuid>/`` and ``DELETE Request/<request_uuid>/`` -> 204, no body,
* ``POST Call/<call_uuid>/Record/`` -> 202 (see :mod:`.recording`).
* ``POST Call/<call_uuid>/DTMF/`` ``{digits, leg?}`` -> 202 ``{"api_id", "message": "digits
  sent"}`` (the keys are recorded on the call's ``dtmf_sent``).

Every answer carries an ``api_id``; errors are ``{"api_id", "error": "<text>"}``: wrong or
missing credentials, or another account's path -> 401; a body that is not a JSON object (nor
a form) or a refused parameter -> 400; an unknown path or call -> 404; another method ->
405. Every request is recorded (method, path, query, decoded body, headers without
``authorization``). The semantics live behind :class:`CallOperations` (the
:class:`~voicecall_cli.simulator.plivo.simulator.PlivoSimulator`); the parameter checks they
share are here. The ASGI plumbing is :mod:`voicecall_cli.simulator.serving`'s.

Resource handling: holds no resources; hypercorn (owned by the simulator) owns the sockets.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from voicecall_cli.simulator.serving import Request, Response, RestApp

_ACCOUNT = re.compile(r"^/v1/Account/(?P<account>[^/]+)/(?P<rest>.*)$")
_CALLS = re.compile(r"^Call/?$")
_CALL = re.compile(r"^Call/(?P<id>[^/]+)/?$")
_RECORD = re.compile(r"^Call/(?P<id>[^/]+)/Record/?$")
_REQUEST = re.compile(r"^Request/(?P<id>[^/]+)/?$")
_DTMF = re.compile(r"^Call/(?P<id>[^/]+)/DTMF/?$")
_DTMF_DIGITS = re.compile(r"^[0-9*#wW]+$")  # Plivo's keys, w/W its pauses (0.5 s / 1 s)
_NUMBER = re.compile(r"^\+?[1-9]\d{3,15}$")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One REST request the fake Plivo received.

    ``body`` is the decoded JSON or form object (None when empty or undecodable); ``query``
    the query string's parameters; ``headers`` lower-cased without ``authorization``;
    ``status`` what the simulator answered.
    """

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    authorized: bool
    status: int

    def get(self, name: str) -> Any:
        """Field ``name`` of the body (None when absent)."""
        return self.body.get(name) if isinstance(self.body, dict) else None


class ApiFailure(Exception):
    """A Plivo error response: HTTP ``status`` and the ``error`` text."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(status, error)
        self.status = status
        self.error = error


@dataclass(frozen=True, slots=True)
class InjectedFailure:
    """A response the next authorised request gets instead of being served."""

    status: int
    body: str
    content_type: str = "application/json"


def api_id() -> str:
    return str(uuid.uuid4())


# -- parameter checks -----------------------------------------------------------------------------

def text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """Field ``name`` as text (JSON numbers are accepted and written as text)."""
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ApiFailure(400, f"{name} parameter is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ApiFailure(400, f"{name} must be a string")
    return str(value)


def number(body: dict[str, Any], name: str) -> str:
    """A phone number (``14155550100``, a leading ``+`` accepted) or, for ``to``, a SIP URI;
    returned as Plivo writes it (no ``+``)."""
    value = text(body, name, required=True)
    assert value is not None
    if name == "to" and "<" in value:
        raise ApiFailure(400, "bulk calls (destinations joined with '<') are not simulated")
    if name == "to" and value.startswith("sip:") and "@" in value:
        return value
    if not _NUMBER.match(value):
        raise ApiFailure(400, f"{name} must be a phone number with country code, like "
                              "14155550100")
    return value.lstrip("+")


def url(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = text(body, name, required=required)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiFailure(400, f"{name} must be a valid http or https URL")
    return value


def method(body: dict[str, Any], name: str) -> str:
    value = text(body, name)
    if value is None:
        return "POST"
    if value.upper() not in ("GET", "POST"):
        raise ApiFailure(400, f"{name} must be GET or POST")
    return value.upper()


def seconds(body: dict[str, Any], name: str, default: int | None) -> int | None:
    """A whole number of seconds >= 0 (an int, or a string of digits)."""
    value = body.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not (isinstance(value, int) or (
            isinstance(value, str) and value.isdigit())) or int(value) < 0:
        raise ApiFailure(400, f"{name} must be a whole number of seconds (0 or more)")
    return int(value)


class CallOperations(Protocol):
    """What the REST routes act on. Each returns the JSON object to answer (``api_id`` is
    added) or None for 204, or raises :class:`ApiFailure`."""

    requests: list[RecordedRequest]

    def create_call(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def get_call(self, call_id: str, status: str | None) -> dict[str, Any]: ...

    def transfer(self, call_uuid: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def hangup(self, call_uuid: str) -> None: ...

    def cancel_request(self, request_uuid: str) -> None: ...

    def start_recording(self, call_uuid: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def send_digits(self, call_uuid: str, digits: str) -> None: ...


class FakePlivoApi(RestApp):
    """ASGI callable for the fake REST API, bound to one :class:`CallOperations`; the ASGI
    plumbing is :class:`~voicecall_cli.simulator.serving.RestApp`'s (this class only keeps the
    query string, which it drops)."""

    def __init__(self, operations: CallOperations, *, auth_id: str, auth_token: str) -> None:
        self._ops = operations
        self._auth_id = auth_id
        self._expected_auth = "Basic " + base64.b64encode(
            f"{auth_id}:{auth_token}".encode()).decode()
        self.injected: list[InjectedFailure] = []

    def respond(self, request: Request) -> Response:
        headers = dict(request.headers)
        given = headers.pop("authorization", "")
        query = {k: v[0] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
        match = _ACCOUNT.match(request.path)
        authorized = hmac.compare_digest(given.encode(), self._expected_auth.encode()) and (
            match is not None and match["account"] == self._auth_id)
        body: Any = None
        try:
            if not authorized:
                raise ApiFailure(401, "Authentication failed: check your auth_id and "
                                      "auth_token")
            body = _decode(request.body, headers.get("content-type", ""))
            if self.injected:
                injected = self.injected.pop(0)
                response = Response(injected.status, injected.body, injected.content_type)
            else:
                assert match is not None
                response = self._serve(request.method, match["rest"], query, body)
        except ApiFailure as failure:
            response = Response(failure.status, json.dumps(
                {"api_id": api_id(), "error": failure.error}))
        self._ops.requests.append(RecordedRequest(
            request.method, request.path, query, body if body is not None
            else _lenient(request.body), headers, authorized, response.status))
        return response

    def _serve(self, method_: str, rest: str, query: dict[str, str],
               body: dict[str, Any]) -> Response:
        def answer(status: int, data: dict[str, Any] | None) -> Response:
            if data is None:
                return Response(status, "")
            return Response(status, json.dumps({"api_id": api_id(), **data}))

        if _CALLS.match(rest):
            if method_ != "POST":
                raise ApiFailure(405, f"method {method_} not allowed")
            return answer(201, self._ops.create_call(body))
        if (found := _CALL.match(rest)) is not None:
            if method_ == "GET":
                return answer(200, self._ops.get_call(found["id"], query.get("status")))
            if method_ == "POST":
                return answer(202, self._ops.transfer(found["id"], body))
            if method_ == "DELETE":
                self._ops.hangup(found["id"])
                return answer(204, None)
            raise ApiFailure(405, f"method {method_} not allowed")
        if (found := _RECORD.match(rest)) is not None:
            if method_ != "POST":
                raise ApiFailure(405, f"method {method_} not allowed")
            return Response(202, json.dumps(self._ops.start_recording(found["id"], body)))
        if (found := _DTMF.match(rest)) is not None:
            if method_ != "POST":
                raise ApiFailure(405, f"method {method_} not allowed")
            digits = text(body, "digits", required=True) or ""
            if not _DTMF_DIGITS.match(digits):
                raise ApiFailure(400, "digits may only hold 0-9, *, #, w and W")
            self._ops.send_digits(found["id"], digits)
            return answer(202, {"message": "digits sent"})
        if (found := _REQUEST.match(rest)) is not None:
            if method_ != "DELETE":
                raise ApiFailure(405, f"method {method_} not allowed")
            self._ops.cancel_request(found["id"])
            return answer(204, None)
        raise ApiFailure(404, "not found")


def _decode(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    if "application/x-www-form-urlencoded" in content_type:
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] if len(v) == 1 else v for k, v in form.items()}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiFailure(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiFailure(400, "the request body must be a JSON object")
    return body


def _lenient(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None
