"""A blocking client of the daemon's control API: HTTP/1.1 (:mod:`.unix_http`) over AF_UNIX.

Every request opens its own connection and closes it before returning (the streaming
:meth:`ControlClient.event_lines` closes it when the generator is closed or finishes), so no
resource outlives a call. Failures are raised as :class:`~voicecall_cli.protocol.ApiError`:

* no socket file, or nothing listening on it -> ``daemon_not_running``
* the socket is not ours to use (EACCES/EPERM) -> ``permission_denied``
* no answer within the client's ``timeout`` -> ``timeout``
* an answer without the protocol header, or not HTTP/JSON at all -> ``protocol_mismatch``
* an error body ``{"error": {"code", "message"}}`` -> that code and message.

A response that carries a *different* protocol version is used anyway, with one warning per
client on stderr (through ``on_warning``).
"""

from __future__ import annotations

import errno
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from voicecall_cli import __version__
from voicecall_cli.client.unix_http import (
    IncompleteResponse,
    MalformedResponse,
    UnixHttpConnection,
    UnixHttpResponse,
)
from voicecall_cli.protocol import (
    API_PREFIX,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    ApiError,
    ErrorCode,
)
from voicecall_cli.protocol.events import HEARTBEAT_S

DEFAULT_TIMEOUT_S = 30.0
# Socket timeouts of the requests that wait on a call (the daemon bounds each wait itself;
# these only guard against a daemon that never answers). Ringing, the greeting and saying the
# prompt come before a continue's reply wait starts:
BEFORE_LISTENING_S = 300.0
# A continue without its own timeout waits as the daemon's config says, unknown to clients:
UNBOUNDED_WAIT_S = 3600.0
# A speak waits for the answer, the greeting and the speech itself:
SPEAK_WAIT_S = 600.0
# An event stream's read timeout: three missed heartbeats mean the daemon stopped answering.
EVENT_STREAM_TIMEOUT_S = 3 * HEARTBEAT_S + 5


def _warn_on_stderr(message: str) -> None:
    print(f"voicecall: warning: {message}", file=sys.stderr, flush=True)


class ControlClient:
    """Talks to the daemon listening on ``socket_path``.

    ``timeout`` bounds every blocking socket operation (connect, each read): a request that
    makes the daemon wait (``voicecall.continue``) needs a client whose timeout exceeds it.
    """

    def __init__(self, socket_path: str | Path, timeout: float = DEFAULT_TIMEOUT_S, *,
                 on_warning: Callable[[str], None] = _warn_on_stderr) -> None:
        self.socket_path = Path(socket_path)
        self.timeout = timeout
        self.on_warning = on_warning
        self._warned_version = False

    # -- requests -------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /v1/health``: the daemon's health object."""
        return self._request("GET", f"{API_PREFIX}/health")

    def call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/<method>`` with a JSON ``body``; the response object or ApiError."""
        return self._request("POST", f"{API_PREFIX}/{method}", body)

    def events(self, since: int | str | None = None,
               call_id: str | None = None) -> Iterator[dict[str, Any]]:
        """The decoded lines of ``GET /v1/events`` (snapshot first); see :meth:`event_lines`."""
        for _raw, event in self.event_lines(since, call_id):
            yield event

    def event_lines(self, since: int | str | None = None, call_id: str | None = None, *,
                    deadline: float | None = None) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """Each NDJSON line of ``GET /v1/events`` as ``(raw line without newline, decoded)``.

        The connection stays open while the generator runs; closing the generator (or leaving
        the ``for`` loop) closes it. The stream ending is not an error: the generator returns.
        A read that waits longer than ``timeout`` raises ``timeout``, and so does reaching
        ``deadline`` (a ``time.monotonic()`` value) before the next line.
        """
        query = {k: v for k, v in (("since", since), ("callId", call_id)) if v is not None}
        path = f"{API_PREFIX}/events" + (f"?{urlencode(query)}" if query else "")
        conn = UnixHttpConnection(self.socket_path, self.timeout)
        try:
            response = self._send(conn, "GET", path, None)
            if response.status >= 300:
                raise self._error_from(response, self._transport(response.read))
            while True:
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0 or conn.sock is None:
                        raise ApiError(ErrorCode.TIMEOUT, "the wait's deadline passed")
                    conn.sock.settimeout(min(self.timeout, left))
                raw = self._transport(response.readline)
                if not raw:
                    return
                line = raw.rstrip(b"\r\n")
                if not line.strip():
                    continue
                yield line, self._decode_object(line)
        finally:
            conn.close()

    # -- plumbing -------------------------------------------------------------------------

    def _request(self, verb: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        conn = UnixHttpConnection(self.socket_path, self.timeout)
        try:
            response = self._send(conn, verb, path, body)
            payload = self._transport(response.read)
        finally:
            conn.close()
        if response.status >= 300:
            raise self._error_from(response, payload)
        return self._decode_object(payload)

    def _send(self, conn: UnixHttpConnection, verb: str, path: str,
              body: dict[str, Any] | None) -> UnixHttpResponse:
        headers = {"Accept": "application/json", "User-Agent": f"voicecall/{__version__}",
                   PROTOCOL_HEADER: str(PROTOCOL_VERSION)}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(verb, path, body=data, headers=headers)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            why = "no socket at" if isinstance(exc, FileNotFoundError) else "nothing listens on"
            raise ApiError(ErrorCode.DAEMON_NOT_RUNNING,
                           f"the voicecall daemon is not running ({why} {self.socket_path})"
                           ) from exc
        except PermissionError as exc:
            raise ApiError(ErrorCode.PERMISSION_DENIED,
                           f"permission denied on the control socket {self.socket_path}") from exc
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ENOTSOCK):
                raise ApiError(ErrorCode.DAEMON_NOT_RUNNING,
                               f"the voicecall daemon is not running ({self.socket_path} "
                               "is not a socket)") from exc
            if isinstance(exc, TimeoutError):
                raise self._timed_out() from exc
            raise ApiError(ErrorCode.OPERATION_FAILED,
                           f"cannot reach the daemon at {self.socket_path}: {exc}") from exc
        response = self._transport(conn.getresponse)
        self._check_protocol(response)
        return response

    def _transport(self, read: Callable[[], Any]) -> Any:
        """Run one read of the response, turning transport failures into ApiError."""
        try:
            return read()
        except TimeoutError as exc:
            raise self._timed_out() from exc
        except (ConnectionError, IncompleteResponse) as exc:
            raise ApiError(ErrorCode.OPERATION_FAILED,
                           "the daemon closed the connection before answering") from exc
        except MalformedResponse as exc:
            raise ApiError(ErrorCode.PROTOCOL_MISMATCH,
                           f"{self.socket_path} does not answer in HTTP ({exc!r})") from exc

    def _timed_out(self) -> ApiError:
        return ApiError(ErrorCode.TIMEOUT,
                        f"no answer from the daemon within {self.timeout:g} s")

    def _check_protocol(self, response: UnixHttpResponse) -> None:
        announced = response.getheader(PROTOCOL_HEADER)
        if announced is None or not (announced.strip().isascii() and announced.strip().isdigit()
                                     and len(announced.strip()) <= 9):
            raise ApiError(ErrorCode.PROTOCOL_MISMATCH,
                           f"the server on {self.socket_path} does not speak the voicecall "
                           f"control protocol (no {PROTOCOL_HEADER} header)")
        if int(announced) != PROTOCOL_VERSION and not self._warned_version:
            self._warned_version = True
            self.on_warning(f"the daemon speaks control protocol {int(announced)}, this CLI "
                             f"speaks {PROTOCOL_VERSION}; restart the daemon after upgrading")

    def _decode_object(self, payload: bytes) -> dict[str, Any]:
        try:
            value = json.loads(payload)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ApiError(ErrorCode.PROTOCOL_MISMATCH,
                           "the daemon answered something that is not a JSON object")
        return value

    def _error_from(self, response: UnixHttpResponse, payload: bytes) -> ApiError:
        try:
            body = json.loads(payload)
        except ValueError:
            body = None
        return ApiError.from_body(body, response.status)
