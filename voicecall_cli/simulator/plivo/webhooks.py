"""How the fake Plivo calls the app: form parameters, signed as Plivo signs them.

Every request carries ``X-Plivo-Signature-V3`` and ``X-Plivo-Signature-V3-Nonce`` (a fresh
random nonce each time) and the legacy ``X-Plivo-Signature-V2`` and
``X-Plivo-Signature-V2-Nonce`` (another). V3 is computed with the plivo SDK's own functions,
exactly as its ``validate_v3_signature`` recomputes it: ``get_signature_v3(auth_token,
construct_post_url(url, params), nonce)`` for POST, ``construct_get_url`` for GET (whose
params travel in the query string). V2 is base64(HMAC-SHA256(auth_token, the URL without its
query + nonce)), the value the SDK's ``validate_signature`` expects. The URL signed is the one
the app gave (its public URL when a tunnel stand-in forwards it).

Only loopback URLs are called. A URL on another host is delivered only when ``forward`` maps
its origin to a loopback origin, as a tunnel would (the routing is
:class:`~voicecall_cli.simulator.routing.WebhookRouter`'s); any other URL is refused and
recorded as a failed delivery. Nothing leaves the machine.

:class:`Outbox` keeps one call's notifications (ring, hangup, stream status, GetInput actions
that do not redirect) in order, delivered by a task that outlives the call's own tasks.

Error handling: :meth:`WebhookSender.deliver` never raises for HTTP or network trouble; the
returned :class:`~voicecall_cli.simulator.plivo.call.WebhookDelivery` carries the status code
or the error text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import trio
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3

from voicecall_cli.simulator.plivo.call import WebhookDelivery
from voicecall_cli.simulator.routing import WebhookRouter
from voicecall_cli.simulator.tasks import SerialQueue

USER_AGENT = "PlivoHTTP/1.0"
WEBHOOK_TIMEOUT_S = 10.0


def plivo_number(number: str) -> str:
    """A number as Plivo writes it in webhooks: no leading ``+`` (SIP URIs unchanged)."""
    return number[1:] if number.startswith("+") else number


def plivo_time(ms: int | None) -> str:
    """A timestamp as Plivo's webhooks write it: ``2024-05-01 12:00:00`` (UTC); ``""`` for
    None."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def plivo_api_time(ms: int | None) -> str | None:
    """A timestamp as Plivo's REST API writes it: ``2024-05-01 12:00:00+00:00``."""
    return None if ms is None else plivo_time(ms) + "+00:00"


def session_time(ms: int) -> str:
    """``SessionStart``: ``2024-05-01 12:00:00.123000``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def new_nonce() -> str:
    """A fresh nonce like Plivo's: 20 random digits."""
    return f"{secrets.randbelow(10**20):020d}"


class WebhookSigner:
    """Signs requests with the account's auth token (held here; never sent anywhere)."""

    def __init__(self, auth_token: str, nonce: Callable[[], str] = new_nonce) -> None:
        self._token = auth_token.encode()
        self._nonce = nonce

    def v3(self, url: str, method: str, params: Mapping[str, str], nonce: str) -> str:
        """The V3 signature, made with the plivo SDK as ``validate_v3_signature`` checks it."""
        build = construct_get_url if method == "GET" else construct_post_url
        base = build(url, dict(params)).decode()
        return get_signature_v3(self._token, base, nonce.encode()).decode()

    def v2(self, url: str, nonce: str) -> str:
        parts = urlsplit(url)
        base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")).encode()
        return base64.b64encode(hmac.new(self._token, base + nonce.encode(),
                                         hashlib.sha256).digest()).decode()

    def headers(self, url: str, method: str, params: Mapping[str, str]) -> dict[str, str]:
        nonce_v3, nonce_v2 = self._nonce(), self._nonce()
        return {"x-plivo-signature-v3": self.v3(url, method, params, nonce_v3),
                "x-plivo-signature-v3-nonce": nonce_v3,
                "x-plivo-signature-v2": self.v2(url, nonce_v2),
                "x-plivo-signature-v2-nonce": nonce_v2}


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` appended to its query string (how Plivo GETs a URL)."""
    if not params:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(dict(params))) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class WebhookSender:
    """Signs and sends requests to the app with a shared httpx client (owned by the caller)."""

    def __init__(self, http: httpx.AsyncClient, signer: WebhookSigner, *,
                 forward: Mapping[str, str] | None = None) -> None:
        self._http = http
        self._signer = signer
        self._router = WebhookRouter(forward)

    async def deliver(self, kind: str, url: str, method: str,
                      params: Mapping[str, str]) -> WebhookDelivery:
        """Request ``url`` with ``params`` (form body for POST, query for GET); the response
        is read in full."""
        params = dict(params)
        request_url = with_query(url, params) if method == "GET" else url
        body = b"" if method == "GET" else urlencode(params).encode()
        headers = {"user-agent": USER_AGENT, **self._signer.headers(url, method, params)}
        if method == "POST":
            headers["content-type"] = "application/x-www-form-urlencoded"

        def record(status: int | None, text: str = "", error: str | None = None,
                   ) -> WebhookDelivery:
            return WebhookDelivery(kind, url, request_url, method, params, headers, body,
                                   status, text, error)

        target, tunnel_headers = self._router.route(request_url)
        if target is None:
            return record(None, error="refused: not a loopback URL and not forwarded")
        try:
            response = await self._http.request(method, target, content=body or None,
                                                headers={**headers, **tunnel_headers},
                                                timeout=WEBHOOK_TIMEOUT_S)
        except httpx.HTTPError as exc:
            return record(None, error=f"{type(exc).__name__}: {exc}")
        return record(response.status_code, response.text)


@dataclass(frozen=True, slots=True)
class _Note:
    kind: str
    url: str
    method: str
    params: dict[str, str]


class Outbox:
    """One call's notifications, delivered one at a time in the order they were emitted.

    :meth:`emit` never blocks; the task :meth:`start` begins in the simulator's nursery (not
    cancelled when the call ends) delivers them and hands each delivery to ``record``.
    :meth:`close` lets it finish what was emitted, then end; :meth:`abandon` drops whatever is
    not delivered yet (the call vanished on the carrier). No retries: Plivo does not retry
    these by default.
    """

    def __init__(self, sender: WebhookSender, nursery: trio.Nursery,
                 record: Callable[[WebhookDelivery], None]) -> None:
        self._sender = sender
        self._record = record
        self._queue = SerialQueue[_Note](nursery, self._deliver)

    def start(self) -> None:
        self._queue.start()

    def emit(self, kind: str, url: str, method: str, params: Mapping[str, str]) -> None:
        self._queue.put(_Note(kind, url, method, dict(params)))

    def close(self) -> None:
        self._queue.close()

    def abandon(self) -> None:
        self._queue.abandon()

    async def _deliver(self, note: _Note) -> None:
        self._record(await self._sender.deliver(note.kind, note.url, note.method, note.params))
