"""Where carriers reach the daemon: webhook, signed and stream URLs from one endpoints value.

Operators rely on: the carrier is told the public URL when there is one, else the local one;
signatures are checked against the URL the carrier signed; the media stream is offered on the
same host over ws/wss; and a tunnel or ``expose`` that changes the public URL at run time
changes every URL at once, for every reader of the one value.
"""

from __future__ import annotations

import pytest

from voicecall_cli.daemon.endpoints import DaemonEndpoints

LOCAL = "http://127.0.0.1:8123/voice/webhook"
PUBLIC = "https://calls.example.com/voice/webhook"
STREAM_PATH = "/voice/stream"


def listening(**options) -> DaemonEndpoints:
    endpoints = DaemonEndpoints(**options)
    endpoints.local_url = LOCAL
    return endpoints


# -- webhook_url -----------------------------------------------------------------------------------


def test_before_listening_nothing_is_known() -> None:
    endpoints = DaemonEndpoints(stream_path=STREAM_PATH)
    assert endpoints.webhook_url is None
    assert endpoints.signed_url is None
    assert endpoints.stream_url is None


def test_the_webhook_url_is_the_local_one_without_a_public_url() -> None:
    assert listening().webhook_url == LOCAL
    assert listening(public_url="").webhook_url == LOCAL  # an empty setting means none


def test_the_webhook_url_is_the_public_one_when_set() -> None:
    assert listening(public_url=PUBLIC).webhook_url == PUBLIC
    assert DaemonEndpoints(public_url=PUBLIC).webhook_url == PUBLIC  # even before listening


# -- signed_url ------------------------------------------------------------------------------------


def test_the_signed_url_is_the_public_url_when_set() -> None:
    assert listening(public_url=PUBLIC).signed_url == PUBLIC
    assert listening(public_url=PUBLIC, reconstructs=True).signed_url == PUBLIC


def test_the_signed_url_is_none_when_reconstructed_from_forwarding_headers() -> None:
    endpoints = listening(reconstructs=True)
    assert endpoints.signed_url is None
    assert endpoints.webhook_url == LOCAL  # the carrier is still told where to send


def test_the_signed_url_is_the_local_url_otherwise() -> None:
    assert listening().signed_url == LOCAL


# -- stream_url ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("webhook_url", "stream_url"), [
    ("https://calls.example.com/voice/webhook", "wss://calls.example.com/voice/stream"),
    ("http://127.0.0.1:8123/voice/webhook", "ws://127.0.0.1:8123/voice/stream"),
    ("https://calls.example.com:8443/hooks/in", "wss://calls.example.com:8443/voice/stream"),
    ("http://[::1]:9000/voice/webhook", "ws://[::1]:9000/voice/stream"),
])
def test_the_stream_url_is_ws_or_wss_on_the_webhook_host(webhook_url: str,
                                                         stream_url: str) -> None:
    endpoints = DaemonEndpoints(public_url=webhook_url, stream_path=STREAM_PATH)
    assert endpoints.stream_url == stream_url


def test_the_stream_url_follows_the_local_url_without_a_public_one() -> None:
    assert listening(stream_path=STREAM_PATH).stream_url == "ws://127.0.0.1:8123/voice/stream"


def test_no_stream_url_when_streams_are_off() -> None:
    assert listening(public_url=PUBLIC).stream_url is None
    assert listening().stream_url is None


# -- run-time changes ------------------------------------------------------------------------------


def test_changing_the_public_url_at_run_time_changes_every_url_at_once() -> None:
    endpoints = listening(stream_path=STREAM_PATH)
    view = endpoints  # what a provider holds: the one value, never a copy
    assert (view.webhook_url, view.signed_url, view.stream_url) == (
        LOCAL, LOCAL, "ws://127.0.0.1:8123/voice/stream")

    endpoints.public_url = "https://abc123.tunnel.example/voice/webhook"
    assert (view.webhook_url, view.signed_url, view.stream_url) == (
        "https://abc123.tunnel.example/voice/webhook",
        "https://abc123.tunnel.example/voice/webhook",
        "wss://abc123.tunnel.example/voice/stream")

    endpoints.public_url = "https://def456.tunnel.example/voice/webhook"  # the tunnel moved
    assert (view.webhook_url, view.signed_url, view.stream_url) == (
        "https://def456.tunnel.example/voice/webhook",
        "https://def456.tunnel.example/voice/webhook",
        "wss://def456.tunnel.example/voice/stream")

    endpoints.public_url = None  # the tunnel closed: back to the local URL
    assert (view.webhook_url, view.signed_url, view.stream_url) == (
        LOCAL, LOCAL, "ws://127.0.0.1:8123/voice/stream")


def test_the_local_url_arriving_later_is_seen_by_readers() -> None:
    endpoints = DaemonEndpoints(stream_path=STREAM_PATH)
    assert endpoints.stream_url is None
    endpoints.local_url = "http://127.0.0.1:40411/voice/webhook"  # bound to port 0
    assert endpoints.webhook_url == "http://127.0.0.1:40411/voice/webhook"
    assert endpoints.stream_url == "ws://127.0.0.1:40411/voice/stream"
