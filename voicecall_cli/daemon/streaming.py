"""Twilio Media Streams, wired to the call manager.

:class:`StreamHooks` is what :class:`~voicecall_cli.daemon.media.MediaStreams` calls back; the
carrier is opened before the manager exists, so the hooks are bound to it later
(:meth:`StreamHooks.bind`). Until speech synthesis is configured (the speech issue), text spoken
into a stream is rendered by :func:`offline_voice`: a soft tone as long as the words would take,
so a call on the simulator carries real, paced audio with no API keys.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.greeting import start_greeting
from voicecall_cli.providers.audio import AudioSource, tone_source

if TYPE_CHECKING:
    from voicecall_cli.daemon.calls import CallManager

log = logging.getLogger("voicecall.streams")

WORDS_PER_SECOND = 2.5


def offline_voice(text: str) -> AudioSource:
    """A 440 Hz tone lasting about as long as ``text`` takes to say (0.4 s to 15 s)."""
    seconds = min(15.0, max(0.4, len(text.split()) / WORDS_PER_SECOND))
    return tone_source(440.0, seconds, amplitude=3000)


def stream_url(webhook_url: str, stream_path: str) -> str:
    """``wss://<host of the webhook URL><stream path>`` (``ws://`` for an http webhook)."""
    parts = urlsplit(webhook_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, stream_path, "", ""))


class StreamHooks:
    """Media-stream events for the call manager (bound after the manager is created)."""

    def __init__(self) -> None:
        self.manager: CallManager | None = None

    def bind(self, manager: CallManager) -> None:
        self.manager = manager

    def _call(self, call_sid: str) -> Any:
        return self.manager.find(call_sid) if self.manager is not None else None

    def on_start(self, call_sid: str, stream_sid: str) -> None:
        """The stream is up: now the greeting can play (reference 2.6, trigger b)."""
        call = self._call(call_sid)
        if call is not None and self.manager is not None:
            log.info("media stream %s started for call %s", stream_sid, call.call_id)
            start_greeting(self.manager, call.call_id)

    def on_stop(self, call_sid: str, stream_sid: str) -> None:
        log.info("media stream %s stopped", stream_sid)

    def on_disconnect_timeout(self, call_sid: str) -> None:
        """The stream stayed away past the grace period: end the call (reference 5.2)."""
        call = self._call(call_sid)
        manager = self.manager
        if call is None or manager is None or call.is_terminal:
            return
        log.info("Auto-ending call %s after stream disconnect grace", call.call_id)

        async def end() -> None:
            try:
                await manager.hang_up(call, CallState.HANGUP_BOT.value)
            except Exception as exc:
                log.warning("hang-up after stream loss failed for call %s: %s",
                            call.call_id, exc)

        manager.spawn(end)

    def is_inbound(self, call_sid: str) -> bool:
        call = self._call(call_sid)
        return call is not None and call.direction == "inbound"
