"""Where a call's speech goes: into its live media stream, or through the provider.

The daemon decides at each use: a call with a live stream is spoken to through the stream
player (our TTS) and heard by the stream's transcriber; any other call through the provider
client. Fakes here: a recording provider client, a recording stream player and a ``Streams``
view whose live calls the test sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from voicecall_cli.daemon.calls.speech import SpeechRouter
from voicecall_cli.providers.base import Capabilities, ProviderClient

STREAMING = "CA-streaming"
PLAIN = "CA-plain"


@dataclass
class RecordingClient(ProviderClient):
    name: str = "fake"
    log: list[tuple] = field(default_factory=list)

    async def speak(self, call_id: str, provider_call_id: str, text: str) -> None:
        self.log.append(("speak", call_id, provider_call_id, text))

    async def speak_and_listen(self, call_id: str, provider_call_id: str, text: str,
                               turn_token: str | None) -> None:
        self.log.append(("speak_and_listen", call_id, provider_call_id, text, turn_token))

    async def start_listening(self, call_id: str, provider_call_id: str,
                              turn_token: str | None) -> None:
        self.log.append(("start_listening", call_id, provider_call_id, turn_token))

    async def stop_listening(self, call_id: str, provider_call_id: str) -> None:
        self.log.append(("stop_listening", call_id, provider_call_id))


@dataclass
class RecordingPlayer:
    log: list[tuple] = field(default_factory=list)

    def prepare(self, provider_call_id: str, text: str) -> None:
        self.log.append(("prepare", provider_call_id, text))

    def discard(self, provider_call_id: str) -> None:
        self.log.append(("discard", provider_call_id))

    async def play_text(self, provider_call_id: str, text: str) -> None:
        self.log.append(("play_text", provider_call_id, text))


@dataclass
class LiveStreams:
    """The ``Streams`` view: ``live`` holds the provider call ids with a stream now."""

    live: set[str] = field(default_factory=set)

    def token(self, provider_call_id: str, *, inbound: bool = False) -> str:
        return f"token-{provider_call_id}"

    def release(self, provider_call_id: str) -> None:
        pass

    def has_stream(self, provider_call_id: str) -> bool:
        return provider_call_id in self.live

    def admits_inbound(self) -> bool:
        return True


@dataclass
class Setup:
    router: SpeechRouter
    client: RecordingClient
    player: RecordingPlayer
    streams: LiveStreams


def streaming_router(capabilities: Capabilities | None = None) -> Setup:
    capabilities = capabilities or Capabilities()
    client, player, streams = RecordingClient(), RecordingPlayer(), LiveStreams({STREAMING})
    router = SpeechRouter(client, capabilities, streams=streams, player=player)
    return Setup(router, client, player, streams)


# -- speaking --------------------------------------------------------------------------------------


async def test_speech_on_a_streaming_call_goes_to_the_player_never_the_client() -> None:
    s = streaming_router(Capabilities(media=True, speak_and_listen=True))
    await s.router.speak("call-1", STREAMING, "Hello over the stream")
    assert s.player.log == [("play_text", STREAMING, "Hello over the stream")]
    assert s.client.log == []


async def test_speech_on_a_call_without_a_stream_goes_to_the_client() -> None:
    s = streaming_router()
    await s.router.speak("call-2", PLAIN, "Hello by the provider's voice")
    assert s.client.log == [("speak", "call-2", PLAIN, "Hello by the provider's voice")]
    assert s.player.log == []


async def test_the_route_is_decided_at_each_use() -> None:
    s = streaming_router()
    await s.router.speak("call-1", STREAMING, "one")
    s.streams.live.discard(STREAMING)  # the stream dropped
    await s.router.speak("call-1", STREAMING, "two")
    s.streams.live.add(STREAMING)  # and came back
    await s.router.speak("call-1", STREAMING, "three")
    assert s.player.log == [("play_text", STREAMING, "one"), ("play_text", STREAMING, "three")]
    assert s.client.log == [("speak", "call-1", STREAMING, "two")]


async def test_speak_and_listen_is_one_provider_command() -> None:
    s = streaming_router(Capabilities(speak_and_listen=True))
    await s.router.speak_and_listen("call-2", PLAIN, "Does ten work?", "turn-1")
    assert s.client.log == [("speak_and_listen", "call-2", PLAIN, "Does ten work?", "turn-1")]
    assert s.player.log == []


# -- one command -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("speak_and_listen", "call", "expected"), [
    (True, PLAIN, True),
    (True, STREAMING, False),  # the stream speaks; the provider must not say it again
    (False, PLAIN, False),
    (False, STREAMING, False),
])
def test_one_command_needs_the_capability_and_no_live_stream(speak_and_listen: bool, call: str,
                                                            expected: bool) -> None:
    s = streaming_router(Capabilities(speak_and_listen=speak_and_listen))
    assert s.router.one_command(call) is expected


def test_one_command_follows_the_stream_going_away() -> None:
    s = streaming_router(Capabilities(speak_and_listen=True))
    assert not s.router.one_command(STREAMING)
    s.streams.live.clear()
    assert s.router.one_command(STREAMING)


# -- listening -------------------------------------------------------------------------------------


async def test_start_listening_on_a_streaming_call_asks_nothing_of_the_client() -> None:
    s = streaming_router()
    await s.router.start_listening("call-1", STREAMING, "turn-1")
    assert s.client.log == [] and s.player.log == []


async def test_start_listening_without_a_stream_asks_the_client() -> None:
    s = streaming_router()
    await s.router.start_listening("call-2", PLAIN, "turn-7")
    assert s.client.log == [("start_listening", "call-2", PLAIN, "turn-7")]


# -- prepared first words --------------------------------------------------------------------------


def test_prepare_and_discard_reach_the_player() -> None:
    s = streaming_router()
    s.router.prepare("call-3", "CA-ringing", "Hi, you reached the bot")
    s.router.discard("CA-ringing")
    assert s.player.log == [("prepare", "CA-ringing", "Hi, you reached the bot"),
                            ("discard", "CA-ringing")]
    assert s.client.log == []


def test_streams_calls_follows_whether_there_is_a_player() -> None:
    assert streaming_router().router.streams_calls is True
    assert SpeechRouter(RecordingClient(), Capabilities()).streams_calls is False
    assert SpeechRouter(RecordingClient(), Capabilities(), streams=LiveStreams({PLAIN})
                        ).streams_calls is False


# -- without streams -------------------------------------------------------------------------------


async def test_without_streams_or_player_everything_goes_through_the_client() -> None:
    client = RecordingClient()
    router = SpeechRouter(client, Capabilities(speak_and_listen=True))
    router.prepare("call-4", "CA-x", "Hello")  # nothing to prepare: the provider speaks later
    router.discard("CA-x")
    assert router.one_command("CA-x")
    await router.speak("call-4", "CA-x", "Hello")
    await router.speak_and_listen("call-4", "CA-x", "Anything else?", "turn-2")
    await router.start_listening("call-4", "CA-x", "turn-3")
    await router.stop_listening("call-4", "CA-x")
    assert client.log == [
        ("speak", "call-4", "CA-x", "Hello"),
        ("speak_and_listen", "call-4", "CA-x", "Anything else?", "turn-2"),
        ("start_listening", "call-4", "CA-x", "turn-3"),
        ("stop_listening", "call-4", "CA-x"),
    ]


async def test_a_player_without_a_streams_view_never_gets_speech() -> None:
    client, player = RecordingClient(), RecordingPlayer()
    router = SpeechRouter(client, Capabilities(), player=player)
    await router.speak("call-5", STREAMING, "Hello")
    assert client.log == [("speak", "call-5", STREAMING, "Hello")]
    assert [entry for entry in player.log if entry[0] == "play_text"] == []
