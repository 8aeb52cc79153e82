"""A stand-in for the ngrok Python SDK module (PyPI ``ngrok``), for the daemon's SDK tunnel.

:class:`FakeNgrokSdk` has the module's calls the tunnel uses, with their blocking behaviour
(no asyncio loop runs under trio): ``forward(addr, proto=None, **options)`` returns a
:class:`FakeListener` (``.url()``, ``.close()``), ``disconnect(url=None)`` and ``kill()``. It
records every call, refuses a token other than ``valid_token`` the way the SDK does (an
exception whose text quotes the token and names ``ERR_NGROK_105``), and can be slow
(``forward_delay_s``). It can stand in ``sys.modules["ngrok"]``.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any


class FakeListener:
    """An open listener. (The real ``close()`` returns an awaitable; the tunnel uses
    ``disconnect(url)`` instead, which blocks without an asyncio loop.)"""

    def __init__(self, sdk: FakeNgrokSdk, url: str, forwards_to: str) -> None:
        self._sdk, self._url, self._forwards_to = sdk, url, forwards_to

    def url(self) -> str:
        return self._url

    def forwards_to(self) -> str:
        return self._forwards_to

    def close(self) -> None:
        self._sdk.disconnect(self._url)


@dataclass
class ForwardCall:
    addr: Any
    proto: str | None
    options: dict[str, Any]


@dataclass
class FakeNgrokSdk:
    """The stand-in module. ``open_urls`` are the listeners not yet disconnected."""

    valid_token: str = "good-token"
    forward_delay_s: float = 0.0
    url: str | None = None  # default: https://<domain> or a random ngrok-free.app host
    forward_calls: list[ForwardCall] = field(default_factory=list)
    disconnect_calls: list[str | None] = field(default_factory=list)
    open_urls: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def forward(self, addr: Any = None, proto: str | None = None, **options: Any) -> FakeListener:
        with self._lock:
            self.forward_calls.append(ForwardCall(addr, proto, dict(options)))
        if self.forward_delay_s:
            time.sleep(self.forward_delay_s)
        token = options.get("authtoken")
        if token != self.valid_token:
            raise ValueError(
                "failed to connect session: authentication failed: The authtoken you specified "
                f"does not look like a proper ngrok tunnel authtoken.\nYour authtoken: {token}\n"
                "Instructions to install your authtoken are on your ngrok dashboard:\n"
                "https://dashboard.ngrok.com/get-started/your-authtoken\r\n\r\n"
                "error_code: ERR_NGROK_105")
        domain = options.get("domain")
        url = self.url or ("https://" + (domain or f"{secrets.token_hex(4)}.ngrok-free.app"))
        with self._lock:
            self.open_urls.add(url)
        return FakeListener(self, url, str(addr))

    connect = forward

    def disconnect(self, url: str | None = None) -> None:
        with self._lock:
            self.disconnect_calls.append(url)
            if url is None:
                self.open_urls.clear()
            else:
                self.open_urls.discard(url)

    def kill(self) -> None:
        self.disconnect(None)
