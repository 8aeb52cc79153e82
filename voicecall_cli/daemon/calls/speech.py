"""Where a call's speech goes: into its live media stream, or through the provider's own voice.

The daemon decides, call by call, at each use: a call with a live stream is spoken to through
the stream player (our TTS, paced frames) and heard by the stream's transcriber; any other call
through the provider client's ``speak``/``start_listening``. Providers never route speech
themselves. :class:`SpeechRouter` holds no resources: the player belongs to the media package
and the client to the provider, and whoever opened them closes them.
"""

from __future__ import annotations

from typing import Protocol

from voicecall_cli.providers.base import Capabilities, ProviderClient, Streams


class StreamPlayer(Protocol):
    """Text into a call's media stream (the daemon's media package implements it)."""

    def prepare(self, provider_call_id: str, text: str) -> None:
        """Start synthesising ``text`` now, to be played by the next matching play_text."""

    def discard(self, provider_call_id: str) -> None:
        """Forget what was prepared for the call."""

    async def play_text(self, provider_call_id: str, text: str) -> None:
        """Returns once played (or interrupted by barge-in); raises ``ProviderError``."""


class SpeechRouter:
    """Speak and listen on a call (see the module docstring). With no ``streams``/``player``
    every call goes through the provider."""

    def __init__(self, client: ProviderClient, capabilities: Capabilities, *,
                 streams: Streams | None = None, player: StreamPlayer | None = None) -> None:
        self.client = client
        self.capabilities = capabilities
        self._streams = streams
        self._player = player

    @property
    def streams(self) -> Streams | None:
        """The daemon's stream registry (None: calls never stream)."""
        return self._streams

    @property
    def streams_calls(self) -> bool:
        """Calls get a media stream once answered (conversation greetings wait for it)."""
        return self._player is not None

    def _streaming(self, provider_call_id: str) -> bool:
        return self._streams is not None and self._streams.has_stream(provider_call_id)

    def one_command(self, provider_call_id: str) -> bool:
        """Whether :meth:`speak_and_listen` says and listens in one provider command."""
        return self.capabilities.speak_and_listen and not self._streaming(provider_call_id)

    def prepare(self, call_id: str, provider_call_id: str, text: str) -> None:
        """Synthesise a call's first words while it rings, when a stream will speak them."""
        if self._player is not None:
            self._player.prepare(provider_call_id, text)

    def discard(self, provider_call_id: str) -> None:
        if self._player is not None:
            self._player.discard(provider_call_id)

    async def speak(self, call_id: str, provider_call_id: str, text: str) -> None:
        """Say ``text``; returns once it was said (or, on a stream, interrupted)."""
        if self._player is not None and self._streaming(provider_call_id):
            await self._player.play_text(provider_call_id, text)
        else:
            await self.client.speak(call_id, provider_call_id, text)

    async def speak_and_listen(self, call_id: str, provider_call_id: str, text: str,
                               turn_token: str | None, accept: str = "speech") -> None:
        """Say ``text`` and listen, in one provider command (only when :meth:`one_command`).
        ``accept``: what answers the turn (``speech``, ``dtmf``, ``both``); passed on to the
        provider only when it is not plain speech."""
        await self.client.speak_and_listen(call_id, provider_call_id, text, turn_token,
                                           **_accepting(accept))

    async def start_listening(self, call_id: str, provider_call_id: str,
                              turn_token: str | None, accept: str = "speech") -> None:
        if self._streaming(provider_call_id):
            return  # the stream's transcriber is always listening (and keys come as frames)
        await self.client.start_listening(call_id, provider_call_id, turn_token,
                                          **_accepting(accept))

    async def stop_listening(self, call_id: str, provider_call_id: str) -> None:
        await self.client.stop_listening(call_id, provider_call_id)


def _accepting(accept: str) -> dict[str, str]:
    return {} if accept == "speech" else {"accept": accept}
