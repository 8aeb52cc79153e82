"""The fake Twilio REST API as a bare ASGI app: Basic auth, routing, form parsing, recording.

Routes (under ``/2010-04-01/Accounts/<AccountSid>``):

* ``POST /Calls.json`` -> 201 with the call resource (JSON),
* ``GET /Calls/<CallSid>.json`` -> 200 with the call resource,
* ``POST /Calls/<CallSid>.json`` (``Twiml``, ``Url``, ``Status``) -> 200 with the call resource,
* ``POST /Calls/<CallSid>/Recordings.json`` -> 201 with the recording resource (see
  :mod:`.recording`).

Wrong or missing credentials, or an AccountSid in the path that is not the authenticated one,
-> 401 with Twilio's error 20003 body. Unknown call or path -> 404 (error 20404). The semantics
of each operation live behind :class:`CallOperations` (the
:class:`~voicecall_cli.simulator.twilio.simulator.TwilioSimulator` implements it); they raise
:class:`ApiFailure` for a Twilio error response. Every request is recorded (method, path, form).
This module imports nothing of the simulator's, so the simulator depends on it and not back;
the ASGI plumbing (lifespan, the capped body, sending the response) is
:mod:`voicecall_cli.simulator.serving`'s.

Resource handling: holds no resources; hypercorn (owned by the simulator) owns the sockets.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs

# Scope, Receive, Send and MAX_BODY lived here before they were shared; still importable.
from voicecall_cli.simulator.serving import MAX_BODY as MAX_BODY
from voicecall_cli.simulator.serving import Receive as Receive
from voicecall_cli.simulator.serving import Request, Response, RestApp
from voicecall_cli.simulator.serving import Scope as Scope
from voicecall_cli.simulator.serving import Send as Send

_CALLS = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Calls"
                    r"(?:/(?P<sid>[^/]+))?\.json$")
_RECORDINGS = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Calls/(?P<sid>[^/]+)"
                         r"/Recordings\.json$")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One REST request the fake Twilio received (``form`` keeps repeated keys in order)."""

    method: str
    path: str
    form: dict[str, list[str]]
    authorized: bool
    status: int  # what the simulator answered

    def get(self, name: str) -> str | None:
        """The first value of form field ``name`` (None when absent)."""
        values = self.form.get(name)
        return values[0] if values else None


class ApiFailure(Exception):
    """A Twilio error response: ``status`` plus Twilio's ``code`` and ``message``."""

    def __init__(self, status: int, code: int, message: str,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
                "status": self.status, **self.extra}


@dataclass(frozen=True, slots=True)
class InjectedFailure:
    """A response the next authorised request gets instead of being served."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class CallOperations(Protocol):
    """What the REST routes act on: the simulator's calls, and its record of requests.

    Each operation returns the call resource as a JSON-ready dict, or raises
    :class:`ApiFailure` for a Twilio error response.
    """

    requests: list[RecordedRequest]

    def create_call(self, form: Mapping[str, list[str]]) -> dict[str, Any]: ...

    def call_resource(self, call_sid: str) -> dict[str, Any]: ...

    def update_call(self, call_sid: str, form: Mapping[str, list[str]]) -> dict[str, Any]: ...

    def start_recording(self, call_sid: str, form: Mapping[str, list[str]]
                        ) -> dict[str, Any]: ...


class FakeTwilioApi(RestApp):
    """ASGI callable for the fake REST API, bound to one :class:`CallOperations` (the
    simulator); the ASGI plumbing is :class:`~voicecall_cli.simulator.serving.RestApp`'s."""

    def __init__(self, simulator: CallOperations, *, account_sid: str, auth_token: str) -> None:
        self._sim = simulator
        self._account_sid = account_sid
        self._expected_auth = "Basic " + base64.b64encode(
            f"{account_sid}:{auth_token}".encode()).decode()
        self.injected: list[InjectedFailure] = []

    def respond(self, request: Request) -> Response:
        method, path, body = request.method, request.path, request.body
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True) if body else {}
        match = _CALLS.match(path) or _RECORDINGS.match(path)
        authorized = hmac.compare_digest(request.headers.get("authorization", ""),
                                         self._expected_auth)
        if authorized and match and match["account"] != self._account_sid:
            authorized = False
        if not authorized:
            failure = ApiFailure(401, 20003, "Authenticate",
                                 {"detail": "Your AccountSid or AuthToken was incorrect."})
            response = Response(401, json.dumps(failure.body()), "application/json",
                                ((b"www-authenticate", b'Basic realm="Twilio API"'),))
        else:
            response = Response(*self._serve(method, path, match, form))
        self._sim.requests.append(RecordedRequest(method, path, form, authorized,
                                                  response.status))
        return response

    def _serve(self, method: str, path: str, match: re.Match[str] | None,
               form: dict[str, list[str]]) -> tuple[int, str, str]:
        if self.injected:
            injected = self.injected.pop(0)
            return injected.status, injected.body, injected.content_type
        try:
            if match is None:
                raise ApiFailure(404, 20404, f"The requested resource {path} was not found")
            sid = match["sid"]
            if match.re is _RECORDINGS:
                if method != "POST":
                    raise ApiFailure(405, 20004, "Method not allowed")
                return 201, json.dumps(self._sim.start_recording(sid, form)), "application/json"
            if sid is None and method == "POST":
                return 201, json.dumps(self._sim.create_call(form)), "application/json"
            if sid is not None and method == "GET":
                return 200, json.dumps(self._sim.call_resource(sid)), "application/json"
            if sid is not None and method == "POST":
                return 200, json.dumps(self._sim.update_call(sid, form)), "application/json"
            raise ApiFailure(405, 20004, "Method not allowed")
        except ApiFailure as failure:
            return failure.status, json.dumps(failure.body()), "application/json"
