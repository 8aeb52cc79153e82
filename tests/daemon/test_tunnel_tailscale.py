"""TailscaleTunnel against a fake ``tailscale`` executable first on PATH.

Operators rely on: ``serve``/``funnel`` mounts the webhook and stream paths and reports the
node's https URL only once they are verified; stopping (or a failed start, or a cancelled one)
removes exactly the routes this run made and never a route of the user's; a path the user
already serves elsewhere is refused, not overwritten; a leftover of a crashed run is adopted;
failures say what to do (log in, enable funnel with the admin link, install tailscale); and a
hung ``tailscale`` never hangs the daemon.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.fakes.tailscale import FakeTailscale, install_fake_tailscale
from voicecall_cli.daemon.tunnels.base import Route, TunnelError, TunnelTarget
from voicecall_cli.daemon.tunnels.tailscale import TailscaleTunnel, Timeouts

TARGET = TunnelTarget("127.0.0.1", 3334, (Route("/voice/webhook", "/voice/webhook"),
                                          Route("/voice/stream", "/voice/stream")))
WEBHOOK = "http://127.0.0.1:3334/voice/webhook"
STREAM = "http://127.0.0.1:3334/voice/stream"
BOUND = 20  # seconds any one test may take


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTailscale:
    fake = install_fake_tailscale(tmp_path / "bin", tmp_path / "state")
    monkeypatch.setenv("PATH", fake.env()["PATH"])
    return fake


def ours(fake: FakeTailscale, port: int = 443) -> dict[tuple[str, str], str]:
    hp = fake.host_port(port)
    return {(hp, "/voice/webhook"): WEBHOOK, (hp, "/voice/stream"): STREAM}


def mounts(fake: FakeTailscale) -> list[list[str]]:
    return [c for c in fake.calls() if c[:1] in (["serve"], ["funnel"])
            and c[1:2] not in (["status"], ["reset"])]


async def start_and_stop(tunnel: TailscaleTunnel, fake: FakeTailscale,
                         port: int = 443) -> str:
    """Start the tunnel, check the routes are up, cancel it; returns the reported URL."""
    async with trio.open_nursery() as nursery:
        url = await nursery.start(tunnel.serve, TARGET)
        assert ours(fake, port).items() <= fake.routes().items()
        status = tunnel.status()
        assert status.public_base == url and status.routes == list(TARGET.routes)
        nursery.cancel_scope.cancel()
    return url


# -- starting and stopping -----------------------------------------------------------------------


async def test_serve_mounts_both_routes_on_the_tailnet_and_stop_removes_them(fake) -> None:
    tunnel = TailscaleTunnel("serve")
    assert tunnel.kind == "tailscale-serve"
    assert tunnel.status().public_only_to_tailnet
    with trio.fail_after(BOUND):
        url = await start_and_stop(tunnel, fake)
    assert url == "https://voicebox.tail4c2a9.ts.net"
    assert fake.routes() == {} and fake.config() == {}
    assert mounts(fake) == [
        ["serve", "--bg", "--yes", "--https=443", "--set-path=/voice/webhook", WEBHOOK],
        ["serve", "--bg", "--yes", "--https=443", "--set-path=/voice/stream", STREAM],
        ["serve", "--https=443", "--set-path=/voice/webhook", "off"],
        ["serve", "--https=443", "--set-path=/voice/stream", "off"],
    ]
    assert tunnel.status().public_base is None


async def test_funnel_puts_the_routes_on_the_internet(fake) -> None:
    tunnel = TailscaleTunnel("funnel")
    with trio.fail_after(BOUND):
        async with trio.open_nursery() as nursery:
            url = await nursery.start(tunnel.serve, TARGET)
            assert url == "https://voicebox.tail4c2a9.ts.net"
            assert fake.routes() == ours(fake) and fake.funnel(443)
            assert tunnel.kind == "tailscale-funnel"
            assert not tunnel.status().public_only_to_tailnet
            nursery.cancel_scope.cancel()
    assert fake.config() == {}


async def test_an_empty_config_printed_as_null_is_read_as_empty(fake) -> None:
    fake.set(empty_json="null")
    with trio.fail_after(BOUND):
        await start_and_stop(TailscaleTunnel("serve"), fake)
    assert fake.routes() == {}


async def test_another_https_port_is_in_the_url(fake) -> None:
    with trio.fail_after(BOUND):
        url = await start_and_stop(TailscaleTunnel("funnel", https_port=8443), fake, 8443)
    assert url == "https://voicebox.tail4c2a9.ts.net:8443"
    assert fake.routes() == {}


async def test_stop_leaves_the_users_own_routes_alone(fake) -> None:
    fake.add_route("/grafana", "http://127.0.0.1:3000")
    fake.add_route("/", "http://127.0.0.1:8080", port=8443, funnel=True)
    before = fake.config()
    with trio.fail_after(BOUND):
        await start_and_stop(TailscaleTunnel("serve"), fake)
    assert fake.config() == before
    assert not any("--set-path=/grafana" in c or "--https=8443" in c for c in fake.calls())


async def test_a_leftover_of_a_crashed_run_is_adopted_and_removed(fake) -> None:
    fake.add_route("/voice/webhook", WEBHOOK, funnel=True)
    with trio.fail_after(BOUND):
        await start_and_stop(TailscaleTunnel("funnel"), fake)
    assert fake.routes() == {}


async def test_a_route_vanishing_while_running_ends_the_tunnel_and_cleans_up(fake) -> None:
    tunnel = TailscaleTunnel("serve", timeouts=Timeouts(recheck_s=0.1))
    with trio.fail_after(BOUND):
        async with trio.open_nursery() as nursery:
            await nursery.start(_remove_when_up, fake, "/voice/stream")
            with pytest.raises(TunnelError, match=r"/voice/stream.*missing"):
                await tunnel.serve(TARGET)
    assert fake.routes() == {}


async def _remove_when_up(fake: FakeTailscale, path: str, *,
                          task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    while ours(fake).items() > fake.routes().items():
        await trio.sleep(0.02)
    fake.remove_route(path)


async def test_funnel_revoked_while_running_still_cleans_up_through_serve(fake) -> None:
    with trio.fail_after(BOUND):
        async with trio.open_nursery() as nursery:
            await nursery.start(TailscaleTunnel("funnel").serve, TARGET)
            fake.set(funnel_denied=True)  # `tailscale funnel ... off` now fails
            nursery.cancel_scope.cancel()
    assert fake.routes() == {}
    assert ["serve", "--https=443", "--set-path=/voice/stream", "off"] in fake.calls()


# -- refusing ------------------------------------------------------------------------------------


async def test_a_path_the_user_serves_elsewhere_is_refused_not_overwritten(fake) -> None:
    fake.add_route("/voice/stream", "http://127.0.0.1:9999/mine")
    with trio.fail_after(BOUND), pytest.raises(TunnelError) as info:
        await TailscaleTunnel("serve").serve(TARGET)
    message = str(info.value)
    assert "/voice/stream" in message and "http://127.0.0.1:9999/mine" in message
    assert "tailscale serve --https=443 --set-path=/voice/stream off" in message
    assert fake.routes() == {(fake.host_port(), "/voice/stream"): "http://127.0.0.1:9999/mine"}
    assert mounts(fake) == []


async def test_funnel_never_publishes_a_users_tailnet_only_route(fake) -> None:
    fake.add_route("/grafana", "http://127.0.0.1:3000")
    with trio.fail_after(BOUND), pytest.raises(TunnelError, match=r"/grafana.*internet"):
        await TailscaleTunnel("funnel").serve(TARGET)
    assert not fake.funnel(443) and mounts(fake) == []


async def test_a_denied_funnel_explains_and_links_the_admin_page(fake) -> None:
    fake.set(funnel_denied=True)
    with trio.fail_after(BOUND), pytest.raises(TunnelError) as info:
        await TailscaleTunnel("funnel").serve(TARGET)
    message = str(info.value)
    assert message.startswith("Tailscale funnel failed with code 1: Funnel not available;")
    assert "funnel node attribute" in message
    assert info.value.hint == {
        "note": "Tailscale serve/funnel may be disabled on this tailnet (or require admin "
                "enable).",
        "enableUrl": f"https://login.tailscale.com/f/funnel?node={fake.node_id}"}
    assert fake.routes() == {}


async def test_funnel_on_a_port_tailscale_refuses_fails_and_leaves_nothing(fake) -> None:
    with trio.fail_after(BOUND), pytest.raises(TunnelError, match="port 8080 is not allowed"):
        await TailscaleTunnel("funnel", https_port=8080).serve(TARGET)
    assert fake.routes() == {}


async def test_a_route_missing_after_mounting_fails_the_start(fake) -> None:
    fake.set(drop_sets=True)
    with trio.fail_after(BOUND), pytest.raises(TunnelError, match=r"/voice/webhook.*missing"):
        await TailscaleTunnel("serve").serve(TARGET)


@pytest.mark.parametrize(("knob", "state"), [("logged_out", "NeedsLogin"),
                                             ("stopped", "Stopped")])
async def test_a_node_that_is_not_running_says_so(fake, knob: str, state: str) -> None:
    fake.set(**{knob: True})
    with trio.fail_after(BOUND), pytest.raises(TunnelError) as info:
        await TailscaleTunnel("serve").serve(TARGET)
    assert str(info.value).startswith("Could not get Tailscale DNS name. Is Tailscale running?")
    assert f"Tailscale is {state}" in str(info.value)
    assert mounts(fake) == []


async def test_a_missing_tailscaled_is_named(fake) -> None:
    fake.set(daemon_down=True)
    with trio.fail_after(BOUND), pytest.raises(TunnelError) as info:
        await TailscaleTunnel("serve").serve(TARGET)
    assert str(info.value).startswith("Could not get Tailscale DNS name: `tailscale status "
                                      "--json` exited with code 1: failed to connect to local "
                                      "tailscaled")


async def test_without_tailscale_on_path_it_says_how_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with trio.fail_after(BOUND), pytest.raises(TunnelError, match="tailscale is not installed"):
        await TailscaleTunnel("serve").serve(TARGET)


# -- hangs and cancellation ----------------------------------------------------------------------


async def test_a_hung_status_hits_its_deadline(fake) -> None:
    fake.set(hang=["status"])
    tunnel = TailscaleTunnel("serve", timeouts=Timeouts(status_s=0.5))
    with trio.fail_after(BOUND), pytest.raises(TunnelError, match=r"within 0\.5 s"):
        await tunnel.serve(TARGET)


async def test_a_hung_mount_hits_its_deadline_and_keeps_the_hint(fake) -> None:
    fake.set(hang=["set"])
    tunnel = TailscaleTunnel("funnel", timeouts=Timeouts(command_s=0.5))
    with trio.fail_after(BOUND), pytest.raises(TunnelError) as info:
        await tunnel.serve(TARGET)
    assert str(info.value).startswith("Tailscale funnel failed: `tailscale funnel` did not "
                                      "finish within 0.5 s")
    assert info.value.hint["enableUrl"] == \
        f"https://login.tailscale.com/f/funnel?node={fake.node_id}"
    assert fake.routes() == {}


async def test_a_tailnet_without_serve_blocks_on_its_enable_link_until_the_deadline(fake) -> None:
    fake.set(serve_disabled=True)  # the real CLI prints the link, then waits for an admin
    tunnel = TailscaleTunnel("serve", timeouts=Timeouts(command_s=0.5))
    with trio.fail_after(BOUND), pytest.raises(TunnelError) as info:
        await tunnel.serve(TARGET)
    assert "did not finish within 0.5 s" in str(info.value)
    assert info.value.hint["enableUrl"] == \
        f"https://login.tailscale.com/f/serve?node={fake.node_id}"
    assert fake.routes() == {}


async def test_cancelling_a_start_whose_mount_landed_leaves_no_route(fake) -> None:
    fake.set(hang=["set-landed"])  # the first mount applies, then `tailscale` never exits
    tunnel = TailscaleTunnel("serve", timeouts=Timeouts(command_s=60))
    with trio.fail_after(BOUND):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tunnel.serve, TARGET)
            while (fake.host_port(), "/voice/webhook") not in fake.routes():
                await trio.sleep(0.02)
            fake.set(hang=[])  # so the cleanup commands answer
            nursery.cancel_scope.cancel()
    assert fake.routes() == {}
    assert mounts(fake)[-1] == ["serve", "--https=443", "--set-path=/voice/webhook", "off"]
