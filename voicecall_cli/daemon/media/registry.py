"""The daemon's media-stream registry: stream tokens, the live stream of each call, and the
``streaming.maxInboundStreams`` rule.

Providers read it through the :class:`~voicecall_cli.providers.base.Streams` view (the token
to put in stream TwiML/XML, whether a call streams, whether an inbound caller may stream now or
waits on hold); the media endpoint adds and removes streams. Tokens are an HMAC of the
provider call id under a secret drawn when the daemon starts: nothing is stored per call, a
token cannot be guessed, and no token from an earlier daemon run is accepted.

Not thread-safe: used from the daemon's one trio thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicecall_cli.daemon.media.playback import Playback


@dataclass(eq=False)
class Stream:
    """A started media stream: the call it carries, its playback, and whether it is inbound."""

    provider_call_id: str
    stream_id: str
    playback: Playback
    inbound: bool = False
    ended: bool = False
    stop: Callable[[], None] | None = None  # ends it and closes its socket (the endpoint's)


class StreamRegistry:
    """Implements :class:`~voicecall_cli.providers.base.Streams` (see the module docstring)."""

    def __init__(self, *, max_inbound_streams: int = 1, secret: bytes | None = None) -> None:
        if max_inbound_streams < 1:
            raise ValueError("max_inbound_streams must be at least 1")
        self.max_inbound_streams = max_inbound_streams
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._streams: dict[str, Stream] = {}  # provider call id -> its current stream

    # -- the providers' view -----------------------------------------------------------------

    def token(self, provider_call_id: str) -> str:
        # surrogatepass: ids come off the network, and a lone surrogate must not raise here
        message = provider_call_id.encode("utf-8", "surrogatepass")
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")

    def has_stream(self, provider_call_id: str) -> bool:
        return provider_call_id in self._streams

    def admits_inbound(self) -> bool:
        inbound = sum(1 for stream in self._streams.values() if stream.inbound)
        return inbound < self.max_inbound_streams

    def end(self, provider_call_id: str, stream_id: str | None = None) -> None:
        stream = self._streams.get(provider_call_id)
        if stream is None or stream.stop is None or stream.ended:
            return
        if stream_id is None or stream_id == stream.stream_id:
            stream.stop()

    # -- the endpoint's side ---------------------------------------------------------------------

    def check_token(self, provider_call_id: str, token: str | None) -> bool:
        """Whether ``token`` is the call's stream token (constant-time comparison)."""
        if not token:
            return False
        return hmac.compare_digest(self.token(provider_call_id).encode(),
                                   token.encode("utf-8", "surrogatepass"))

    def current(self, provider_call_id: str) -> Stream | None:
        return self._streams.get(provider_call_id)

    def add(self, stream: Stream) -> None:
        """The call's stream from now on (replacing an earlier one)."""
        self._streams[stream.provider_call_id] = stream

    def remove(self, stream: Stream) -> bool:
        """Drop ``stream``; False (nothing changed) when the call has a newer one."""
        if self._streams.get(stream.provider_call_id) is not stream:
            return False
        del self._streams[stream.provider_call_id]
        return True
