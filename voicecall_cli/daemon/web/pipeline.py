"""The webhook request pipeline, independent of how the request arrived.

Two transports feed it: the lean HTTP/1.1 front (:mod:`.http1`, every plain webhook request)
and the ASGI adapter (:mod:`.asgi`, requests on connections handed to hypercorn). Both run the
steps and status codes of reference section 6.1, in order: method (405), pre-auth header gate
(401, body unread), per-source-IP limit on requests *stalled on their body* (429, see
:class:`InFlight`), body read within ``max_body`` bytes and ``body_timeout_s`` seconds (413 /
408), signature verification (401), replay check, parse (400 for a malformed body), then the
events go to the store (:class:`~.commit.GroupCommit`) and only once they are committed does
the codec's reply go out. A delivery whose events could not be stored is answered 503 (with
``Retry-After``) and forgotten by the replay cache, so the carrier's retry is processed: a
webhook is never acknowledged unless what it said is stored. A replay is answered with the
first delivery's answer and causes nothing: it is never parsed again, since the replay cache
keeps each first answer exactly as long as its key; a replay of a delivery still being
committed waits for that commit's outcome. Anything unexpected is logged and answered 500.

Nothing here logs request bodies or query strings: webhooks carry phone numbers. Logs name the
source address, body size, the request key and event types.

Resource handling: :class:`WebhookPipeline` holds counters and the pending commits; the replay
cache it is given (one per provider) holds the first answers, within its byte budget; the
transports own the sockets. Cancellation (server shutdown) interrupts a request anywhere; an
in-flight slot is released by the ``with`` that took it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qsl

import trio

from voicecall_cli.daemon.web.commit import GroupCommit
from voicecall_cli.daemon.web.diagnostics import PROBE_REPLY, WebhookDiagnostics
from voicecall_cli.providers.base import WebhookCodec, WebhookReply, WebhookRequest
from voicecall_cli.providers.replay import ReplayCache

logger = logging.getLogger("voicecall.web")
#: Python's own bytes per kept answer beyond its text: the dict slots, the key and body
#: objects' headers, the Answer, its header list and tuples. Measured with tracemalloc on
#: CPython 3.11: 10,000 keys each keeping Twilio's empty TwiML reply hold ~660 bytes per key
#: (key, its expiry and its answer), and :func:`answer_cost` counts each as ~664.
KEPT_ANSWER_OVERHEAD = 512
RETRY_AFTER_S = b"5"

Headers = list[tuple[bytes, bytes]]
_TEXT = (b"content-type", b"text/plain; charset=utf-8")


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP response: status, headers (lower-case names, no content-length) and body."""

    status: int
    headers: Headers
    body: bytes


def add_header(headers: dict[str, str], name: str, value: str) -> None:
    """Add one header field to a request's lower-case map: a repeated field's values join
    with ", ", as HTTP combines them (both fronts build their maps with this)."""
    headers[name] = f"{headers[name]}, {value}" if name in headers else value


def text_answer(status: int, text: str, extra: Headers | None = None) -> Answer:
    return Answer(status, [_TEXT, *(extra or [])], text.encode())


METHOD_NOT_ALLOWED = text_answer(405, "Method Not Allowed", [(b"allow", b"POST")])
UNAUTHORIZED = text_answer(401, "Unauthorized")
TOO_MANY = text_answer(429, "Too Many Requests")
TOO_LARGE = text_answer(413, "Payload Too Large")
TIMEOUT = text_answer(408, "Request Timeout")
BAD_REQUEST = text_answer(400, "Bad Request")
INTERNAL_ERROR = text_answer(500, "Internal Server Error")
UNAVAILABLE = text_answer(503, "Service Unavailable", [(b"retry-after", RETRY_AFTER_S)])


@dataclass(frozen=True, slots=True)
class RequestHead:
    """What the pipeline needs of a request before its body: ``path`` percent-decoded,
    ``raw_path`` and ``query_string`` as sent (latin-1), header names lower-case (repeats
    joined with ``", "``)."""

    method: str
    path: str
    raw_path: str
    query_string: str
    headers: dict[str, str]
    remote_addr: str | None

    @property
    def url(self) -> str:
        """``http://<Host header or localhost><raw path>[?<query>]``."""
        url = f"http://{self.headers.get('host') or 'localhost'}{self.raw_path}"
        return f"{url}?{self.query_string}" if self.query_string else url


class Reject(Exception):
    """Answer the request now with ``answer`` (raised by the transports' body readers too)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


class InFlight:
    """Per-source-IP count of webhook requests *stalled on their body*: waiting for body bytes
    that have not reached the server. The reference (6.1 step 6) caps these at 8 per IP, so a
    flood of stalled bodies from one address cannot hold the server's tasks and buffers; a
    request whose body has arrived never takes a slot, however long it then waits for the
    event loop, so legitimate load is never answered 429."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._count: dict[str, int] = {}

    @contextmanager
    def slot(self, remote_addr: str | None) -> Iterator[None]:
        """Hold one slot for ``remote_addr``; raises :class:`Reject` (429) when it has none."""
        key = remote_addr or "unknown"
        count = self._count.get(key, 0)
        if count >= self.limit:
            logger.warning("webhook rejected: %d stalled requests in flight from %s", count, key)
            raise Reject(TOO_MANY)
        self._count[key] = count + 1
        try:
            yield
        finally:
            remaining = self._count[key] - 1
            if remaining:
                self._count[key] = remaining
            else:
                del self._count[key]


class WebhookPipeline:
    """One provider's webhook path, for both transports.

    ``commit`` stores each non-replayed delivery's events (see :class:`~.commit.GroupCommit`;
    its ``run`` must be running). ``diagnostics`` (shared with ``doctor``) remembers the last
    rejected webhook and answers ``doctor``'s probes once their signature is verified.
    """

    def __init__(self, *, codec: WebhookCodec, commit: GroupCommit, replay: ReplayCache[Answer],
                 clock_ms: Callable[[], int], skip_signature_verification: bool,
                 body_timeout_s: float, max_body: int, max_in_flight_per_ip: int,
                 diagnostics: WebhookDiagnostics | None = None) -> None:
        self.codec = codec
        self.body_timeout_s = body_timeout_s
        self.max_body = max_body
        self.in_flight = InFlight(max_in_flight_per_ip)
        self._diagnostics = diagnostics or WebhookDiagnostics()
        self._commit = commit
        self._replay = replay
        self._pending: dict[str, trio.Event] = {}  # key -> set once its commit is decided
        self._clock_ms = clock_ms
        self._skip_signature = skip_signature_verification

    # -- before the body ---------------------------------------------------------------------

    def check_head(self, head: RequestHead) -> Answer | None:
        """The answer for a request refused before its body is read (405, 401), else None."""
        if head.method != "POST":
            return METHOD_NOT_ALLOWED
        if not self._skip_signature and not self.codec.has_auth_headers(head.headers):
            logger.warning("webhook rejected: missing %s signature headers", self.codec.name)
            self._note_rejection(head, f"missing {self.codec.name} signature headers", None)
            return UNAUTHORIZED
        return None

    def declared_too_large(self, head: RequestHead) -> bool:
        declared = head.headers.get("content-length", "")
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses
        return declared.isascii() and declared.isdigit() and int(declared) > self.max_body

    # -- with the body -----------------------------------------------------------------------

    async def answer(self, head: RequestHead, body: bytes) -> Answer:
        """Verify, de-duplicate, parse, store; the answer to send."""
        try:
            return await self._answer(head, body)
        except Reject as reject:
            return reject.answer
        except Exception:
            logger.exception("webhook handling failed")
            return INTERNAL_ERROR

    async def _answer(self, head: RequestHead, body: bytes) -> Answer:
        request = _webhook_request(head, body)
        now_ms = self._clock_ms()
        key = self._verified_key(head, request, now_ms)
        probe = self._diagnostics.probe_nonce(head.headers)
        if probe is not None:  # doctor's own request, verified: answer it and do nothing else
            self._diagnostics.answer_probe(probe, request.path)
            return reply_answer(WebhookReply(body=PROBE_REPLY))
        if self._replay.seen(key, now_ms):
            return await self._replayed(key)
        # From here until the answer is kept (or the key forgotten) the key is a replay whose
        # answer is not known yet: ``_pending`` covers the wait for the store.
        try:
            reply = self.codec.parse(request, key, now_ms)
        except ValueError as exc:
            logger.warning("webhook rejected: malformed %d-byte body (%s)", len(body), exc)
            self._keep(key, BAD_REQUEST)
            return BAD_REQUEST
        except BaseException:
            self._replay.forget(key)
            raise
        answer = reply_answer(reply)
        if not reply.events:
            self._keep(key, answer)
            return answer
        if not await self._store(key, reply, answer, head, len(body)):
            return UNAVAILABLE
        return answer

    def _verified_key(self, head: RequestHead, request: WebhookRequest, now_ms: int) -> str:
        """The request key of a request whose signature holds; raises :class:`Reject` (401)."""
        if self._skip_signature:
            return _unverified_key(self.codec.name, request)
        verification = self.codec.verify(request, now_ms)
        if not verification.ok or not verification.key:
            reason = verification.reason or "no request key"
            logger.warning("webhook rejected: %s", reason)
            self._note_rejection(head, reason, verification.url)
            raise Reject(UNAUTHORIZED)
        return verification.key

    async def _replayed(self, key: str) -> Answer:
        """The first delivery's answer, and nothing else happens: parsing again could consume
        state (a call's stored notify TwiML, reference 13.7; Twilio's pending Gather)."""
        pending = self._pending.get(key)
        if pending is not None:  # the first delivery is being stored: its outcome decides
            await pending.wait()
        answer = self._replay.kept(key)
        if answer is None:  # its first delivery was refused (503), so the key was forgotten
            raise Reject(UNAVAILABLE)
        logger.info("Replay detected; skipping event side effects (key %s)", key)
        return answer

    async def _store(self, key: str, reply: WebhookReply, answer: Answer, head: RequestHead,
                     size: int) -> bool:
        """Commit the delivery's events; False (and the key forgotten) when the store failed."""
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("webhook from %s: %d bytes, events %s", head.remote_addr, size,
                         [event.type.value for event in reply.events])
        done = self._pending[key] = trio.Event()
        stored = False
        try:
            stored = await self._commit.submit(reply.events)
            if stored:
                self._keep(key, answer)
            else:
                logger.error("webhook refused with 503: its events could not be stored "
                             "(key %s); the carrier will retry", key)
            return stored
        finally:
            if not stored:  # refused, or interrupted (shutdown): a retry is not a replay
                self._replay.forget(key)
            del self._pending[key]
            done.set()

    def _keep(self, key: str, answer: Answer) -> None:
        self._replay.keep(key, answer, answer_cost(key, answer))

    def _note_rejection(self, head: RequestHead, reason: str, verified_url: str | None) -> None:
        self._diagnostics.note_rejection(
            at_ms=self._clock_ms(), reason=reason, url=head.url, path=head.path,
            headers=head.headers, verified_url=verified_url, remote_addr=head.remote_addr)


def answer_cost(key: str, answer: Answer) -> int:
    """What keeping ``answer`` for ``key`` costs, in bytes: its body, header and key text plus
    :data:`KEPT_ANSWER_OVERHEAD`. Replies are small (Twilio's empty TwiML is 63 bytes, a status
    or JSON reply well under 1 KiB) and bodies shared between answers (constants) are counted
    each time, so the replay cache's budget (``DEFAULT_MAX_KEPT_BYTES``, 16 MiB per provider)
    bounds what its answers hold. Worst case: 16 MiB of answers per provider, whatever their
    size (a big reply makes the oldest keys leave sooner); typical: 10,000 keys at ~660 bytes,
    about 6.5 MB."""
    text = len(answer.body) + len(key) + sum(len(k) + len(v) for k, v in answer.headers)
    return text + KEPT_ANSWER_OVERHEAD


def reply_answer(reply: WebhookReply) -> Answer:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
               for k, v in reply.headers.items() if k.lower() != "content-length"]
    return Answer(reply.status, headers, reply.body)


def _webhook_request(head: RequestHead, body: bytes) -> WebhookRequest:
    query = dict(parse_qsl(head.query_string, keep_blank_values=True)) if head.query_string \
        else {}
    return WebhookRequest(method=head.method, url=head.url, path=head.path, query=query,
                          headers=head.headers, body=body, remote_addr=head.remote_addr)


def _unverified_key(provider: str, request: WebhookRequest) -> str:
    """The request key when signatures are skipped: exact duplicates are still replays (6.6)."""
    material = b"\n".join([request.method.encode(), request.url.encode(), request.body])
    return f"{provider}:skip:" + hashlib.sha256(material).hexdigest()
