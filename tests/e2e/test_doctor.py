"""``voicecall doctor`` against a real daemon, with the internet replaced by loopback fakes: a
fake ``tailscale``/``ngrok`` on the daemon's PATH, a fake public edge (an HTTPS proxy that
terminates TLS for the public host and forwards to the daemon, as a tunnel's edge does) and a
carrier API that only tells the time. Each test is a set-up a user has, and asserts what
doctor tells them: which check fails, and what it names.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio
from twilio.request_validator import RequestValidator

from tests.fakes.api_clock import run_api_clock
from tests.fakes.edge import Edge, run_edge
from tests.fakes.ngrok import install_fake_ngrok
from tests.fakes.tailscale import install_fake_tailscale

from .conftest import VOICECALL, Daemon, stop_daemon, until
from .test_exposure import path_env

AUTH_TOKEN = "e2e-doctor-auth-token"
TWILIO = """\
provider = "twilio"
fromNumber = "+15550000000"
store = "{store}"
{top}
[twilio]
accountSid = "AC00000000000000000000000000000000"
authToken = "{token}"
apiBaseUrl = "{api}"
[serve]
port = 0
[streaming]
enabled = true
sttProvider = "scripted"
"""
PUBLIC_HOST = "voice.example.com"


@asynccontextmanager
async def setup(extra: str = "", *, top: str = "", clock_offset_s: float = 0.0,
                edge_hosts: tuple[str, ...] = (),
                tools: str | None = None, ngrok_scenario: str = "ok"
                ) -> AsyncIterator[tuple[Daemon, Edge]]:
    """A started daemon (Twilio, streams on) behind the fake edge, the carrier clock at
    ``clock_offset_s``; ``tools``: "tailscale" or "ngrok" puts that fake on its PATH."""
    root = Path(tempfile.mkdtemp(prefix="vcdoctor", dir="/tmp"))
    hosts = [PUBLIC_HOST, *edge_hosts]
    env: dict[str, str] = {}
    if tools == "tailscale":
        hosts.append(install_fake_tailscale(root / "bin", root / "ts").dns_name)
        env.update(path_env(root / "bin"))
    elif tools == "ngrok":
        install_fake_ngrok(root / "bin", root / "ngrok", ngrok_scenario)
        env.update(path_env(root / "bin"))
    try:
        async with run_api_clock(clock_offset_s) as api, run_edge(root, hosts) as edge:
            env.update(edge.env())
            config = root / "config.toml"
            config.write_text(TWILIO.format(store=root / "state", token=AUTH_TOKEN, api=api,
                                            top=top) + extra)
            daemon = Daemon(root=root, config=config, socket=root / "control.sock",
                            extra_env=env)
            try:
                await trio.to_thread.run_sync(daemon.start)
                port = int(daemon.health()["localUrl"].split(":")[2].split("/")[0])
                edge.routes.update(dict.fromkeys(hosts, port))
                yield daemon, edge
            finally:
                await stop_daemon(daemon)
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def doctor(daemon: Daemon, *args: str) -> tuple[int, dict, str]:
    """``voicecall doctor --json`` with the daemon's config; (exit code, report, stderr)."""
    proc = await trio.to_thread.run_sync(lambda: subprocess.run(
        [*VOICECALL, "--socket", str(daemon.socket), "--config", str(daemon.config),
         "doctor", "--json", *args], capture_output=True, text=True, timeout=60))
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def by_name(report: dict) -> dict[str, dict]:
    return {check["name"]: check for check in report["checks"]}


async def test_a_good_tailscale_funnel_setup_passes_every_check() -> None:
    async with setup('[tunnel]\nprovider = "tailscale-funnel"\n', tools="tailscale") as (
            daemon, edge):
        code, report, _ = await doctor(daemon)
        checks = by_name(report)
        assert code == 0 and report["ok"] is True, report
        assert {name: check["status"] for name, check in checks.items()} == {
            "config": "ok", "credentials": "ok", "daemon": "ok", "public-url": "ok",
            "tunnel": "ok", "webhook-probe": "ok", "stream-path": "ok", "clock": "ok",
            "rejected-webhooks": "ok"}
        host = daemon.health()["publicUrl"].split("/")[2]
        assert host.endswith(".ts.net")
        assert f"https://{host}/voice/webhook reached this daemon and passed its signature " \
               "check" in checks["webhook-probe"]["summary"]
        assert checks["stream-path"]["summary"] == (
            f"media streams reach this daemon at wss://{host}/voice/stream")
        assert f"{host}:443" in edge.connects  # the probes went through the public edge
        human = await trio.to_thread.run_sync(lambda: daemon.cli(
            "--config", str(daemon.config), "doctor"))
        assert human.returncode == 0
        assert [line.split()[0] for line in human.stdout.splitlines()
                if not line.startswith(" ")] == ["ok"] * 7 + ["ok", "ok"]
        assert AUTH_TOKEN not in human.stdout + human.stderr


async def test_a_rejected_webhook_is_shown_with_both_urls_redacted() -> None:
    public = f"https://{PUBLIC_HOST}/voice/webhook"
    async with setup(top=f'publicUrl = "{public}"') as (daemon, _edge):
        # A proxy that forwards with its own Host: Twilio signed the proxy's URL.
        signed_url = "https://proxy.example.net/voice/webhook?callId=secret-call-42"
        form = {"CallSid": "CA123", "CallStatus": "ringing", "From": "+15550001234"}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(signed_url, form)
        local = daemon.health()["localUrl"] + "?callId=secret-call-42"
        async with httpx.AsyncClient(trust_env=False) as http:
            rejected = await http.post(local, data=form, headers={
                "host": "proxy.example.net", "x-twilio-signature": signature})
        assert rejected.status_code == 401
        code, report, _ = await doctor(daemon)
        checks = by_name(report)
        assert code == 0  # a warning: it may be someone else's junk
        assert checks["webhook-probe"]["status"] == "ok"  # our own signed probe passes
        warning = checks["rejected-webhooks"]
        assert warning["status"] == "warn"
        assert "https://proxy.example.net/voice/webhook?callId=…" in warning["summary"]
        assert f"we checked it against {public}?callId=…" in warning["summary"]
        assert "secret-call-42" not in json.dumps(report)
        assert AUTH_TOKEN not in json.dumps(report)
        assert "publicUrl" in warning["fix"]


async def test_a_private_public_url_fails_and_is_not_probed() -> None:
    async with setup(top='publicUrl = "http://192.168.1.20:3334/voice/webhook"',
                     clock_offset_s=-600) as (daemon, edge):
        code, report, stderr = await doctor(daemon)
        checks = by_name(report)
        assert code == 1 and report["ok"] is False
        assert checks["public-url"]["status"] == "fail"
        assert "192.168.1.20 is a private address" in checks["public-url"]["summary"]
        assert checks["webhook-probe"]["status"] == "skip"
        assert edge.connects == []  # nothing was sent towards the private address
        assert checks["clock"]["status"] == "warn"
        assert "600 s ahead of twilio's API" in checks["clock"]["summary"]
        assert "1 check failed: public-url" in stderr


async def test_a_tunnel_that_is_down_fails_with_its_reason() -> None:
    async with setup('[tunnel]\nprovider = "ngrok"\n', tools="ngrok",
                     ngrok_scenario="dies-after-start") as (daemon, edge):
        await until(lambda: daemon.health()["exposure"]["state"] == "down", "the tunnel down")
        edge.routes.clear()  # a dead agent's URL answers nothing
        code, report, _ = await doctor(daemon)
        checks = by_name(report)
        assert code == 1
        assert checks["tunnel"]["status"] == "fail"
        assert "ngrok exited unexpectedly with code 1" in checks["tunnel"]["summary"]
        assert checks["webhook-probe"]["status"] == "fail"
        assert "did not answer" in checks["webhook-probe"]["summary"]


@pytest.mark.parametrize("missing", ["authToken", "accountSid"])
async def test_a_missing_credential_is_named_without_a_daemon(missing: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="vcdoctor", dir="/tmp"))
    try:
        text = TWILIO.format(store=root / "state", token=AUTH_TOKEN, api="http://127.0.0.1:9",
                             top='publicUrl = "https://x.example.com/voice/webhook"')
        text = "\n".join(line for line in text.splitlines() if not line.startswith(missing))
        (root / "config.toml").write_text(text)
        daemon = Daemon(root=root, config=root / "config.toml", socket=root / "control.sock")
        code, report, _ = await doctor(daemon)
        checks = by_name(report)
        assert code == 1
        assert checks["credentials"]["status"] == "fail"
        assert f"twilio.{missing}" in checks["credentials"]["summary"]
        assert checks["daemon"]["status"] == "fail"
        assert checks["daemon"]["fix"] == "start it with `voicecall daemon start`"
        assert AUTH_TOKEN not in json.dumps(report)
    finally:
        shutil.rmtree(root, ignore_errors=True)
