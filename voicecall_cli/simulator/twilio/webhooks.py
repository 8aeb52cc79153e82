"""How the fake Twilio sends webhooks: form-encoded POSTs signed exactly as Twilio signs them.

The signature is the twilio SDK's ``RequestValidator(auth_token).compute_signature(url, params)``
over the URL Twilio was given (query included) and the form parameters, in the
``X-Twilio-Signature`` header.

Only loopback URLs are called. A URL on another host is delivered only when ``forward`` maps
its origin (``https://voice.example.com``) to a loopback origin (``http://127.0.0.1:8443``), as a
tunnel would: the request is signed with the public URL, sent to the loopback one, and carries
the public host in ``Host`` and ``X-Forwarded-Host`` plus ``X-Forwarded-Proto`` (the routing is
:class:`~voicecall_cli.simulator.routing.WebhookRouter`'s). Any other URL is refused and
recorded as a failed delivery; nothing leaves the machine.

Error handling: :meth:`WebhookSender.post` never raises for HTTP or network trouble; the
returned :class:`WebhookDelivery` carries the status code or the error text.
"""

from __future__ import annotations

import email.utils
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx
from twilio.request_validator import RequestValidator

from voicecall_cli.simulator.routing import WebhookRouter
from voicecall_cli.simulator.routing import is_loopback_host as is_loopback_host  # its old home
from voicecall_cli.simulator.twilio.call import WebhookDelivery

API_VERSION = "2010-04-01"
USER_AGENT = "TwilioProxy/1.1"
WEBHOOK_TIMEOUT_S = 15.0  # Twilio waits 15 s for a voice webhook before giving up


def rfc2822(ms: int) -> str:
    """A timestamp as Twilio writes them: ``Mon, 16 Aug 2010 03:45:01 +0000``."""
    return email.utils.format_datetime(datetime.fromtimestamp(ms / 1000, UTC))


class WebhookSender:
    """Signs and POSTs webhooks with a shared httpx client (owned by the caller)."""

    def __init__(self, http: httpx.AsyncClient, auth_token: str, *,
                 forward: Mapping[str, str] | None = None) -> None:
        self._http = http
        self._validator = RequestValidator(auth_token)
        self._router = WebhookRouter(forward)

    def signature(self, url: str, params: Mapping[str, str]) -> str:
        return self._validator.compute_signature(url, dict(params))

    async def post(self, url: str, params: Mapping[str, str]) -> WebhookDelivery:
        """POST ``params`` to ``url`` signed for ``url``; the response is read in full."""
        params = dict(params)
        target, extra_headers = self._router.route(url)
        if target is None:
            return WebhookDelivery(url, params, None,
                                   error="refused: not a loopback URL and not forwarded")
        headers = {
            "content-type": "application/x-www-form-urlencoded; charset=UTF-8",
            "user-agent": USER_AGENT,
            "x-twilio-signature": self.signature(url, params),
            "i-twilio-idempotency-token": str(uuid.uuid4()),
            **extra_headers,
        }
        try:
            response = await self._http.post(target, data=params, headers=headers,
                                             timeout=WEBHOOK_TIMEOUT_S)
        except httpx.HTTPError as exc:
            return WebhookDelivery(url, params, None, error=f"{type(exc).__name__}: {exc}")
        return WebhookDelivery(url, params, response.status_code, body=response.text)


def call_params(*, account_sid: str, call_sid: str, status: str, direction: str,
                from_: str, to: str) -> dict[str, str]:
    """The parameters Twilio sends with every voice webhook for a call."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call_sid,
        "CallStatus": status,
        "Direction": direction,
        "From": from_,
        "To": to,
        "Caller": from_,
        "Called": to,
        "CallerCountry": "US",
        "CalledCountry": "US",
    }
