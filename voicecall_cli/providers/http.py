"""A carrier's REST API as the provider clients call it: bounded in time, errors as
:class:`ApiError` (a :class:`~voicecall_cli.providers.base.ProviderError`), secrets masked.

:class:`RestApi` wraps an ``httpx.AsyncClient`` that its owner opened (with the base URL and
credentials) and closes. Every request is bounded by ``timeout_s`` in total; a request cancelled
from outside is abandoned at once. Messages read ``"<Label> API error: <status> <detail>"``
(at most :data:`ERROR_BODY_LIMIT` characters of the body) or ``"<Label> API request failed:
..."``; any secret given is replaced by ``***`` should a server echo it back, and no request
header is ever logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import trio

from voicecall_cli.providers.base import ProviderError

ERROR_BODY_LIMIT = 200
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class ApiError(ProviderError):
    """The API answered with an error status (``status``), or never answered (``status`` None:
    network error or timeout). ``codes`` are the error codes the body named, if any."""

    def __init__(self, message: str, status: int | None = None,
                 codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.codes = codes

    @property
    def answered(self) -> bool:
        return self.status is not None


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (then proxies from the environment are skipped)."""
    return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS


class RestApi:
    """Requests to one carrier's API (see the module docstring)."""

    def __init__(self, http: httpx.AsyncClient, *, label: str, secrets: Iterable[str],
                 timeout_s: float) -> None:
        self._http = http
        self._label = label
        self._secrets = tuple(s for s in secrets if s)
        self.timeout_s = timeout_s

    async def request(self, method: str, path: str, *, json: Any = None,
                      form: list[tuple[str, str]] | None = None) -> Any:
        """One request with a JSON body, or a form body (``form`` pairs, a repeated name sent
        once per value); returns the JSON answer (None for 204 or an empty body).

        Raises :class:`ApiError` for a non-2xx answer (404 included: callers decide what an
        unknown resource means), a network error, a timeout or a body that is not JSON."""
        content = headers = None
        if form is not None:
            content = urlencode(form)
            headers = {"content-type": "application/x-www-form-urlencoded"}
        response: httpx.Response | None = None
        with trio.move_on_after(self.timeout_s):
            try:
                response = await self._http.request(method, path, json=json, content=content,
                                                     headers=headers)
            except httpx.HTTPError as exc:
                raise ApiError(self.mask(f"{self._label} API request failed: "
                                         f"{type(exc).__name__}: {exc}")) from None
        if response is None:
            raise ApiError(f"{self._label} API request timed out after {self.timeout_s:g}s")
        body = _json_or_none(response)
        if not response.is_success:
            # Masked before it is cut: a secret straddling the cut would otherwise survive.
            text = self.mask(" ".join(response.text.split()))[:ERROR_BODY_LIMIT]
            raise ApiError(self.mask(f"{self._label} API error: {response.status_code} {text}"),
                           response.status_code, _error_codes(body))
        if response.status_code == 204 or not response.content.strip():
            return None
        if body is None:
            raise ApiError(f"{self._label} API error: the response is not JSON",
                           response.status_code)
        return body

    def mask(self, message: str) -> str:
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return message


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json() if response.content.strip() else None
    except ValueError:
        return None


def _error_codes(body: Any) -> tuple[str, ...]:
    """``errors[].code`` of a JSON:API-style error body (Telnyx), else ``error_code``/``code``."""
    if not isinstance(body, dict):
        return ()
    errors = body.get("errors")
    if isinstance(errors, list):
        return tuple(str(e["code"]) for e in errors if isinstance(e, dict) and "code" in e)
    for key in ("error_code", "code"):
        if key in body:
            return (str(body[key]),)
    return ()
