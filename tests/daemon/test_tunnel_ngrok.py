"""The ngrok tunnel: the agent path against a fake agent executable, the SDK path against a
stand-in module, the real SDK's API surface, and which of them ``open_ngrok_tunnel`` picks."""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from tests.fakes.ngrok import install_fake_ngrok, read_run
from tests.fakes.ngrok_sdk import FakeNgrokSdk
from voicecall_cli.daemon.tunnels.base import Route, TunnelError, TunnelTarget
from voicecall_cli.daemon.tunnels.ngrok import (
    NO_TOKEN_MESSAGE,
    NOT_AVAILABLE_MESSAGE,
    STOP_GRACE_S,
    NgrokAgentTunnel,
    NgrokSdkTunnel,
    open_ngrok_tunnel,
)

ROUTES = (Route("/voice/webhook", "/voice/webhook"), Route("/voice/stream", "/voice/stream"))
TARGET = TunnelTarget("127.0.0.1", 3334, ROUTES)
TOKEN = "2abcDEFghi_s3cr3tTOKENvalue"
FREE_URL = re.compile(r"^https://[0-9a-f]{8}-203-0-113-7\.ngrok-free\.app$")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Install the fake agent for a scenario, first on PATH; returns its state directory."""
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)

    def install(scenario: str) -> Path:
        bin_dir, state = tmp_path / "bin", tmp_path / "state"
        install_fake_ngrok(bin_dir, state, scenario=scenario)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        return state

    return install


# ---------------------------------------------------------------------------- the agent


async def test_agent_reports_the_https_base_and_gets_the_token_by_environment(agent) -> None:
    state = agent("ok")
    tunnel = NgrokAgentTunnel(TOKEN, "voice.example.ngrok.app")
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            url = await nursery.start(tunnel.serve, TARGET)
            assert url == "https://voice.example.ngrok.app"
            run = read_run(state)
            assert run is not None
            assert run["argv"] == ["http", "3334", "--log", "stdout", "--log-format", "json",
                                   "--domain", "voice.example.ngrok.app"]
            assert run["token_set"] is True
            assert run["token_sha256"] == hashlib.sha256(TOKEN.encode()).hexdigest()
            assert TOKEN not in " ".join(run["argv"])
            status = tunnel.status()
            assert (status.kind, status.via, status.public_base) == (
                "ngrok", "ngrok-agent", "https://voice.example.ngrok.app")
            assert status.routes == list(ROUTES)
            await trio.sleep(1.2)  # it keeps logging; the tunnel keeps draining
            assert tunnel.pid == run["pid"] and not _gone(run["pid"])
            nursery.cancel_scope.cancel()
    assert (state / "stopped").read_text() == "SIGTERM\n"  # stopped gracefully
    assert _gone(run["pid"]) and tunnel.pid is None


async def test_agent_without_domain_or_token(agent) -> None:
    state = agent("ok")
    tunnel = NgrokAgentTunnel(None, None)
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            url = await nursery.start(tunnel.serve, TARGET)
            nursery.cancel_scope.cancel()
    assert FREE_URL.match(url)
    run = read_run(state)
    assert run is not None and run["token_set"] is False
    assert run["argv"] == ["http", "3334", "--log", "stdout", "--log-format", "json"]
    assert _gone(run["pid"])


async def test_agent_auth_refusal_is_reported_with_ngrok_s_words(agent) -> None:
    state = agent("auth-error")
    with trio.fail_after(15), pytest.raises(TunnelError) as caught:
        await NgrokAgentTunnel(None, None).serve(TARGET)
    message = str(caught.value)
    assert message.startswith("ngrok error: authentication failed: Usage of ngrok requires")
    assert "ERR_NGROK_4018" in message and "tunnel.ngrokAuthToken" in message
    run = read_run(state)
    assert run is not None and _gone(run["pid"])


async def test_agent_refusal_that_quotes_the_token_never_shows_it(agent) -> None:
    agent("auth-error")
    with trio.fail_after(15), pytest.raises(TunnelError) as caught:
        await NgrokAgentTunnel(TOKEN, None).serve(TARGET)
    message = str(caught.value)
    assert "ERR_NGROK_105" in message and "Your authtoken: ***" in message
    assert TOKEN not in message


async def test_agent_token_from_the_environment_is_masked_too(agent, monkeypatch) -> None:
    agent("auth-error")
    monkeypatch.setenv("NGROK_AUTHTOKEN", TOKEN)  # the agent inherits it
    with trio.fail_after(15), pytest.raises(TunnelError) as caught:
        await NgrokAgentTunnel(None, None).serve(TARGET)
    assert "ERR_NGROK_105" in str(caught.value) and TOKEN not in str(caught.value)


async def test_agent_domain_refusal(agent) -> None:
    agent("domain-error")
    with trio.fail_after(15), pytest.raises(TunnelError) as caught:
        await NgrokAgentTunnel(TOKEN, "taken.ngrok.app").serve(TARGET)
    message = str(caught.value)
    assert message.startswith("ngrok error: failed to start tunnel: This domain is reserved")
    assert "ERR_NGROK_320" in message and "tunnel.ngrokDomain" in message


async def test_agent_exit_before_its_url(agent) -> None:
    state = agent("early-exit")
    with trio.fail_after(15), pytest.raises(TunnelError) as caught:
        await NgrokAgentTunnel(None, None).serve(TARGET)
    assert str(caught.value) == ("ngrok exited unexpectedly with code 3: failed to start web "
                                 "service: listen tcp 127.0.0.1:4040: bind: permission denied")
    run = read_run(state)
    assert run is not None and _gone(run["pid"])


async def test_agent_startup_timeout_kills_it(agent) -> None:
    state = agent("silent")
    with trio.fail_after(15), pytest.raises(TunnelError, match=re.escape(
            "ngrok startup timed out (0.5s)")):
        await NgrokAgentTunnel(None, None, startup_timeout_s=0.5).serve(TARGET)
    run = read_run(state)
    assert run is not None and _gone(run["pid"])
    assert not (state / "stopped").exists()  # killed, not asked


class _Started:
    """A ``task_status`` that records what ``started`` was given, so that ``serve`` can be
    awaited directly and its later error caught as it is."""

    def __init__(self) -> None:
        self.values: list[str] = []

    def started(self, value: str) -> None:
        self.values.append(value)


async def test_agent_that_dies_after_start_fails_the_tunnel(agent) -> None:
    state = agent("dies-after-start")
    status = _Started()
    with trio.fail_after(15), pytest.raises(TunnelError, match=re.escape(
            "ngrok exited unexpectedly with code 1")):
        await NgrokAgentTunnel(None, None).serve(TARGET, task_status=status)
    assert len(status.values) == 1 and FREE_URL.match(status.values[0])
    run = read_run(state)
    assert run is not None and _gone(run["pid"])


async def test_agent_that_ignores_sigterm_is_killed(agent) -> None:
    state = agent("stubborn")
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            await nursery.start(NgrokAgentTunnel(None, None).serve, TARGET)
            start = trio.current_time()
            nursery.cancel_scope.cancel()
    run = read_run(state)
    assert run is not None and _gone(run["pid"])
    assert not (state / "stopped").exists()
    assert trio.current_time() - start >= STOP_GRACE_S  # asked first, then killed


async def test_agent_refuses_routes_it_cannot_mount(agent) -> None:
    state = agent("ok")
    target = TunnelTarget("127.0.0.1", 3334, (Route("/hook", "/voice/webhook"),))
    with trio.fail_after(5), pytest.raises(TunnelError, match="serves paths as they are"):
        await NgrokAgentTunnel(None, None).serve(target)
    assert read_run(state) is None  # nothing was started


async def test_agent_missing_from_path(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with trio.fail_after(5), pytest.raises(TunnelError, match="ngrok is not installed"):
        await NgrokAgentTunnel(None, None).serve(TARGET)


# ------------------------------------------------------------------------------ the SDK


async def test_sdk_forwards_reports_the_url_and_disconnects_on_cancel() -> None:
    sdk = FakeNgrokSdk(valid_token=TOKEN)
    tunnel = NgrokSdkTunnel(TOKEN, "voice.example.ngrok.app", sdk=sdk)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            url = await nursery.start(tunnel.serve, TARGET)
            assert url == "https://voice.example.ngrok.app"
            assert sdk.open_urls == {url}
            status = tunnel.status()
            assert (status.kind, status.via, status.public_base) == ("ngrok", "ngrok-sdk", url)
            nursery.cancel_scope.cancel()
    [call] = sdk.forward_calls
    assert call.addr == "127.0.0.1:3334"
    assert call.options == {"authtoken": TOKEN, "domain": "voice.example.ngrok.app"}
    assert sdk.disconnect_calls == [url] and sdk.open_urls == set()


async def test_sdk_passes_only_options_that_are_set(monkeypatch) -> None:
    monkeypatch.setenv("NGROK_AUTHTOKEN", TOKEN)
    sdk = FakeNgrokSdk(valid_token=TOKEN, url="https://ab12.ngrok-free.app/")
    target = TunnelTarget("::1", 8080, ROUTES)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            url = await nursery.start(NgrokSdkTunnel(None, None, sdk=sdk).serve, target)
            nursery.cancel_scope.cancel()
    assert url == "https://ab12.ngrok-free.app"
    [call] = sdk.forward_calls
    assert call.addr == "[::1]:8080" and call.options == {"authtoken": TOKEN}


async def test_sdk_refusal_is_masked() -> None:
    sdk = FakeNgrokSdk(valid_token="another-token")
    with trio.fail_after(5), pytest.raises(TunnelError) as caught:
        await NgrokSdkTunnel(TOKEN, None, sdk=sdk).serve(TARGET)
    message = str(caught.value)
    assert message.startswith("ngrok error: failed to connect session: authentication failed")
    assert "ERR_NGROK_105" in message and "Your authtoken: ***" in message
    assert TOKEN not in message and sdk.open_urls == set()


async def test_sdk_needs_a_token(monkeypatch) -> None:
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    sdk = FakeNgrokSdk()
    with trio.fail_after(5), pytest.raises(TunnelError) as caught:
        await NgrokSdkTunnel(None, None, sdk=sdk).serve(TARGET)
    assert str(caught.value) == NO_TOKEN_MESSAGE
    assert sdk.forward_calls == []


async def test_sdk_start_timeout_leaves_no_listener() -> None:
    sdk = FakeNgrokSdk(valid_token=TOKEN, forward_delay_s=0.6)
    with trio.fail_after(5):
        with pytest.raises(TunnelError, match=re.escape("ngrok startup timed out (0.2s)")):
            await NgrokSdkTunnel(TOKEN, None, sdk=sdk, startup_timeout_s=0.2).serve(TARGET)
        while not sdk.disconnect_calls:  # the abandoned thread closes what it opened
            await trio.sleep(0.05)
    assert len(sdk.disconnect_calls) == 1 and sdk.open_urls == set()


async def test_sdk_refuses_routes_it_cannot_mount() -> None:
    sdk = FakeNgrokSdk(valid_token=TOKEN)
    target = TunnelTarget("127.0.0.1", 3334, (Route("/hook", "/voice/webhook"),))
    with trio.fail_after(5), pytest.raises(TunnelError, match="serves paths as they are"):
        await NgrokSdkTunnel(TOKEN, None, sdk=sdk).serve(target)
    assert sdk.forward_calls == []


def test_real_sdk_has_the_calls_the_adapter_uses() -> None:
    sdk = pytest.importorskip(
        "ngrok", reason="the ngrok SDK (voicecall[ngrok]) cannot be imported on this platform")
    assert callable(sdk.forward) and callable(sdk.disconnect)
    assert callable(getattr(sdk.Listener, "url", None))
    try:
        params = inspect.signature(sdk.forward).parameters
    except (TypeError, ValueError):  # not introspectable: the calls existing must do
        return
    names = set(params)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    assert takes_any or {"authtoken", "domain"} <= names
    first = next(iter(params.values()))
    assert first.kind in (inspect.Parameter.POSITIONAL_ONLY,
                          inspect.Parameter.POSITIONAL_OR_KEYWORD)  # forward("host:port")
    if takes_any:  # the options behind **options: a session token, an endpoint domain
        assert callable(getattr(sdk.SessionBuilder, "authtoken", None))
        assert callable(getattr(sdk.HttpListenerBuilder, "domain", None))
    assert list(inspect.signature(sdk.disconnect).parameters)[:1] == ["url"]


# ---------------------------------------------------------------------------- selection


def test_selection_prefers_the_sdk(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ngrok", FakeNgrokSdk())
    tunnel = open_ngrok_tunnel(TOKEN, None)
    assert isinstance(tunnel, NgrokSdkTunnel) and tunnel.kind == "ngrok"


def test_selection_falls_back_to_the_agent(agent, monkeypatch) -> None:
    agent("ok")
    monkeypatch.setitem(sys.modules, "ngrok", None)  # import ngrok fails
    assert isinstance(open_ngrok_tunnel(TOKEN, "d.ngrok.app"), NgrokAgentTunnel)


def test_selection_without_a_token_uses_the_agent_s_own_config(agent, monkeypatch) -> None:
    agent("ok")
    monkeypatch.setitem(sys.modules, "ngrok", FakeNgrokSdk())
    assert isinstance(open_ngrok_tunnel(None, None), NgrokAgentTunnel)
    monkeypatch.setenv("NGROK_AUTHTOKEN", TOKEN)
    assert isinstance(open_ngrok_tunnel(None, None), NgrokSdkTunnel)


def test_selection_without_either(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ngrok", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TunnelError) as caught:
        open_ngrok_tunnel(TOKEN, None)
    assert str(caught.value) == NOT_AVAILABLE_MESSAGE


def test_selection_ignores_a_module_that_is_not_the_sdk(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ngrok", object())
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TunnelError, match="ngrok is not available"):
        open_ngrok_tunnel(TOKEN, None)
