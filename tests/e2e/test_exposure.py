"""Tunnels on a real ``voicecall daemon run``: Tailscale serve/funnel and the ngrok agent, driven
through fake ``tailscale`` and ``ngrok`` executables on the daemon's PATH (the network edge),
and ``voicecall expose`` switching a running daemon while a call is live.

What a user checks: the public, stream and signed URLs the daemon gives carriers; the routes in
``tailscale serve status --json``; that nothing of ours is left after ``off`` or a stop, and
that a route of the user's own is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from tests.fakes.edge import Edge, run_edge
from tests.fakes.ngrok import install_fake_ngrok, read_run
from tests.fakes.tailscale import FakeTailscale, install_fake_tailscale

from .conftest import BASE_CONFIG, Daemon, stop_daemon

TWILIO_STREAMING = """\
provider = "twilio"
fromNumber = "+15550000000"
store = "{store}"
[twilio]
accountSid = "AC00000000000000000000000000000000"
authToken = "e2e-auth-token-not-secret"
apiBaseUrl = "http://127.0.0.1:9"
[serve]
port = 0
[streaming]
enabled = true
sttProvider = "scripted"
"""
USER_ROUTE = ("/grafana", "http://127.0.0.1:3000")


@pytest.fixture
def workdir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="vcexpose", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def path_env(bin_dir: Path) -> dict[str, str]:
    return {"PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])}


def make(root: Path, config: str, bin_dir: Path) -> Daemon:
    path = root / "config.toml"
    path.write_text(config.format(store=root / "state"))
    return Daemon(root=root, config=path, socket=root / "control.sock",
                  extra_env=path_env(bin_dir))


def ours(fake: FakeTailscale) -> dict[str, str]:
    """Our routes in the fake's serve config: public path -> proxy target."""
    return {path: target for (_hp, path), target in fake.routes().items()
            if (path, target) != USER_ROUTE}


def test_funnel_from_config_mounts_webhook_and_stream_and_removes_only_them(workdir):
    fake = install_fake_tailscale(workdir / "bin", workdir / "ts")
    fake.add_route(*USER_ROUTE, funnel=True)
    daemon = make(workdir, TWILIO_STREAMING + '[tunnel]\nprovider = "tailscale-funnel"\n',
                  workdir / "bin")
    try:
        health = daemon.start() and daemon.health()
        host = fake.dns_name
        local = health["localUrl"].removesuffix("/voice/webhook")
        assert health["publicUrl"] == f"https://{host}/voice/webhook"
        assert health["webhookUrl"] == health["publicUrl"]
        assert health["streamUrl"] == f"wss://{host}/voice/stream"
        assert health["exposure"]["tunnel"] == "tailscale-funnel"
        assert health["exposure"]["state"] == "up"
        assert ours(fake) == {"/voice/webhook": f"{local}/voice/webhook",
                              "/voice/stream": f"{local}/voice/stream"}
        assert fake.funnel()
        events = [json.loads(line) for line in daemon.cli(
            "tail", "--since", "all", "--no-follow", "--json", check=True).stdout.splitlines()]
        exposed = [e["data"] for e in events if e.get("type") == "daemon.exposed"]
        assert exposed == [{"mode": "funnel", "tunnel": "tailscale-funnel",
                            "localUrl": health["localUrl"], "publicUrl": health["publicUrl"],
                            "webhookUrl": health["publicUrl"],
                            "streamUrl": health["streamUrl"]}]
        shown = daemon.cli("daemon", "status", check=True).stdout
        assert f"https://{host}/voice/webhook" in shown and "tailscale-funnel (up)" in shown
    finally:
        daemon.stop()
    assert daemon.proc.returncode == 0
    assert ours(fake) == {}
    assert fake.routes() == {(fake.host_port(), USER_ROUTE[0]): USER_ROUTE[1]}


async def test_expose_switches_a_running_daemon_while_a_call_stays_live(workdir):
    """The mock carrier posts to the URL the daemon gives it, so after each switch its
    webhooks travel through the public edge (a fake, on loopback) and the tunnel's route."""
    fake = install_fake_tailscale(workdir / "bin", workdir / "ts")
    # On its own port: funnel is on or off per host:port, so voicecall refuses to flip the
    # user's routes on 443 between tailnet-only and public.
    fake.add_route(*USER_ROUTE, port=8443)
    config = BASE_CONFIG.format(max_duration=300, store="{store}")
    daemon = make(workdir, config, workdir / "bin")
    with trio.fail_after(120):
        async with run_edge(workdir, [fake.dns_name]) as edge:
            daemon.extra_env.update(edge.env())
            await trio.to_thread.run_sync(daemon.start)
            edge.routes[fake.dns_name] = int(daemon.health()["localUrl"].split(":")[2]
                                             .split("/")[0])
            try:
                await trio.to_thread.run_sync(switch_exposure_during_a_call, daemon, fake,
                                              edge)
            finally:
                await stop_daemon(daemon)
    assert fake.routes() == {(fake.host_port(8443), USER_ROUTE[0]): USER_ROUTE[1]}


def switch_exposure_during_a_call(daemon: Daemon, fake: FakeTailscale, edge: Edge) -> None:
    health = daemon.health()
    assert health["publicUrl"] is None and health["exposure"] == {"tunnel": None,
                                                                  "state": "none"}
    call_id = daemon.cli("call", "-m", "Is ten ok?", check=True).stdout.strip()
    daemon.wait_for(lambda: daemon.call_state(call_id)["state"] in ("active", "listening",
                                                                    "speaking"),
                    what="the call answered")
    local = health["localUrl"]

    funnel = daemon.cli_json("expose", "--mode", "funnel")
    assert funnel == {"ok": True, "mode": "funnel", "path": "/voice/webhook",
                      "localUrl": local, "publicUrl": f"https://{fake.dns_name}/voice/webhook",
                      "streamUrl": None}
    assert ours(fake) == {"/voice/webhook": local} and fake.funnel()
    first = daemon.cli_json("continue", call_id, "-m", "Does ten work?")
    assert first["transcript"] == "Yes, ten works."

    serve = daemon.cli("expose", "--mode", "serve", check=True)
    assert serve.stdout.strip() == f"https://{fake.dns_name}/voice/webhook"
    assert "only inside your tailnet" in serve.stderr
    assert ours(fake) == {"/voice/webhook": local} and not fake.funnel()
    second = daemon.cli_json("continue", call_id, "-m", "Anything else?")
    assert second["transcript"] == "No, that is all."
    assert f"{fake.dns_name}:443" in edge.connects  # the callee's webhooks came that way
    daemon.cli("end", call_id, check=True)
    daemon.wait_for(lambda: daemon.call_state(call_id)["state"] == "hangup-bot",
                    what="the call ended after the switches")

    # The webhook mounted at another public path: Tailscale maps it to serve.path.
    hook = daemon.cli("expose", "--mode", "serve", "--path", "/hook", check=True)
    assert hook.stdout.strip() == f"https://{fake.dns_name}/hook"
    assert ours(fake) == {"/hook": local}

    fake.set(funnel_denied=True)
    refused = daemon.cli("expose", "--mode", "funnel", "--json")
    assert refused.returncode == 1
    answer = json.loads(refused.stdout)
    assert answer["ok"] is False and "funnel" in answer["error"].lower()
    assert answer["hint"]["enableUrl"] == (
        f"https://login.tailscale.com/f/funnel?node={fake.node_id}")
    assert ours(fake) == {"/hook": local}  # the serve routes were put back
    assert daemon.health()["publicUrl"] == f"https://{fake.dns_name}/hook"

    off = daemon.cli_json("expose", "--mode", "off")
    assert off["ok"] is True and off["publicUrl"] is None
    assert ours(fake) == {}
    assert fake.routes() == {(fake.host_port(8443), USER_ROUTE[0]): USER_ROUTE[1]}
    modes = [json.loads(line)["data"]["mode"] for line in daemon.cli(
        "tail", "--since", "all", "--no-follow", "--json", check=True).stdout.splitlines()
        if json.loads(line).get("type") == "daemon.exposed"]
    assert modes == ["funnel", "serve", "serve", "off"]


def test_a_tunnel_that_cannot_start_fails_the_start_in_one_line(workdir):
    fake = install_fake_tailscale(workdir / "bin", workdir / "ts", logged_out=True)
    daemon = make(workdir, TWILIO_STREAMING + '[tailscale]\nmode = "funnel"\n',
                  workdir / "bin")
    proc = daemon.start(wait=False)
    assert proc.wait(timeout=30) == 1
    lines = daemon.log.read_text().splitlines()
    failure = [line for line in lines if line.startswith("voicecall: ")]
    assert len(failure) == 1 and "Traceback" not in daemon.log.read_text()
    assert failure[0].startswith('voicecall: tailscale.mode "funnel": the tunnel did not start: '
                                 "Could not get Tailscale DNS name")
    assert not daemon.socket.exists()
    assert fake.routes() == {}


def test_tailscale_not_installed_is_named(workdir):
    (workdir / "empty-bin").mkdir()
    daemon = make(workdir, TWILIO_STREAMING + '[tunnel]\nprovider = "tailscale-serve"\n',
                  workdir / "empty-bin")
    daemon.extra_env["PATH"] = str(workdir / "empty-bin")  # python is run by absolute path
    proc = daemon.start(wait=False)
    assert proc.wait(timeout=30) == 1
    assert ('voicecall: tunnel.provider "tailscale-serve": the tunnel did not start: tailscale '
            "is not installed (no `tailscale` on PATH)") in daemon.log.read_text()


def test_ngrok_agent_gives_its_url_and_stops_with_the_daemon(workdir):
    install_fake_ngrok(workdir / "bin", workdir / "ngrok", "ok")
    daemon = make(workdir, TWILIO_STREAMING + '[tunnel]\nprovider = "ngrok"\n',
                  workdir / "bin")
    try:
        health = daemon.start() and daemon.health()
        public = health["publicUrl"]
        assert public.startswith("https://") and public.endswith(".ngrok-free.app/voice/webhook")
        assert health["streamUrl"] == public.replace("https://", "wss://").replace(
            "/voice/webhook", "/voice/stream")
        assert health["exposure"]["via"] == "ngrok-agent"
        run = read_run(workdir / "ngrok")
        port = health["localUrl"].split(":")[2].split("/")[0]
        assert run["argv"][:2] == ["http", port]
    finally:
        daemon.stop()
    assert (workdir / "ngrok" / "stopped").exists()


def test_an_ngrok_agent_that_dies_is_reported_and_the_daemon_keeps_serving(workdir):
    install_fake_ngrok(workdir / "bin", workdir / "ngrok", "dies-after-start")
    daemon = make(workdir, TWILIO_STREAMING + '[tunnel]\nprovider = "ngrok"\n',
                  workdir / "bin")
    try:
        daemon.start()
        exposure = daemon.wait_for(
            lambda: (e := daemon.health()["exposure"])["state"] == "down" and e,
            what="the tunnel reported down")
        assert "ngrok exited unexpectedly with code 1" in exposure["error"]
        tail = daemon.cli("tail", "--since", "all", "--no-follow", check=True).stdout
        assert "tunnel ngrok down: ngrok exited unexpectedly with code 1" in tail
        assert daemon.cli("calls", "--json").returncode == 0  # still serving
    finally:
        daemon.stop()
    assert daemon.proc.returncode == 0
