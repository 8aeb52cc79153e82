"""``voicecall daemon reload`` and SIGHUP on real ``daemon run`` processes: a live streamed call
keeps going and speaks its next utterance with the new voice; a restart-only key is named and
not applied; an invalid file is refused (exit 78) and the running config kept."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import trio

from tests.speech.fakes.tts_servers import FakeOpenAISpeech, serve_fake
from voicecall_cli.simulator.twilio.media import Tone, open_twilio_media_stream

from .conftest import Daemon, cli_json, until
from .test_twilio import call_state, call_with_stream, twilio_daemon, wait_call

KEY = "sk-test-0123456789abcdef"
SILENCE = b"\xff" * 160

SPEECH = """
[streaming]
enabled = true
sttProvider = "scripted"
scriptedTranscripts = ["Old words."]
silenceDurationMs = 300

[tts]
provider = "openai"

[tts.openai]
apiKey = "{key}"
baseUrl = "{tts}"
voice = "alloy"
"""


def user_words(call: dict) -> list[str]:
    return [t["text"] for t in call["transcript"] if t["speaker"] == "user"]


async def utterance(stream) -> None:
    """Loud audio for half a second, then silence long enough to end the utterance."""
    await stream.send_audio(Tone(300.0, 0.5))
    await stream.send_audio(Tone(300.0, 0.6, amplitude=0))


def events(daemon: Daemon) -> list[dict]:
    shown = daemon.cli("tail", "--since", "all", "--no-follow", "--json", check=True).stdout
    return [json.loads(line) for line in shown.splitlines()]


async def test_reload_during_a_streamed_call_changes_the_next_utterances_voice() -> None:
    fake = FakeOpenAISpeech(KEY, chunk_count=2, chunk_ms=100, chunk_delay_s=0.01)
    with trio.fail_after(90):
        async with serve_fake(fake) as tts, twilio_daemon(
                extra_config=SPEECH.format(key=KEY, tts=tts.base_url),
                top_config='responseBaseUrl = "http://127.0.0.1:9/v1"\n') as (daemon, sim):
            webhook_url = daemon.health()["webhookUrl"]
            call_id, sid, request = await call_with_stream(daemon, sim, "Hello from the clinic.")
            async with open_twilio_media_stream(request.url, call_sid=sid,
                                                token=request.token) as stream:
                await wait_call(daemon, call_id, lambda c: c["transcript"], "the greeting")
                assert [r.body["voice"] for r in fake.requests] == ["alloy"]

                text = daemon.config.read_text()
                daemon.config.write_text(
                    "ringTimeoutMs = 25000\n" + text.replace('voice = "alloy"', 'voice = "nova"')
                    .replace('"Old words."', '"New words."')
                    .replace('bind = "127.0.0.1"', 'bind = "127.0.0.1"\npath = "/elsewhere"'))
                result = await cli_json(daemon, "daemon", "reload")
                assert result == {"ok": True, "applied": ["ringTimeoutMs",
                                                          "streaming.scriptedTranscripts",
                                                          "tts.openai.voice"],
                                  "needsRestart": ["serve.path"]}
                spoken_before = len(stream.media)

                await cli_json(daemon, "speak", "--call-id", call_id, "--message",
                               "Your appointment is at ten.")
                await until(lambda: len(fake.requests) == 2, "the second synthesis")
                second = fake.requests[1].body
                assert (second["voice"], second["input"]) == ("nova",
                                                              "Your appointment is at ten.")
                # The same stream carries the new utterance: the call was never dropped.
                await until(lambda: any(m.payload != SILENCE
                                        for m in stream.media[spoken_before:]),
                            "the new utterance's audio on the same stream")
                call = await call_state(daemon, call_id)
                assert call["callId"] == call_id and call["endedAt"] is None
                assert call["state"] not in ("completed", "failed", "hangup-bot", "error")
                assert [t["text"] for t in call["transcript"]][-1] == \
                    "Your appointment is at ten."
                # The live stream keeps the transcriber it started with...
                await utterance(stream)
                heard = await wait_call(daemon, call_id, user_words, "the caller's words")
                assert user_words(heard) == ["Old words."]
            # ...and a stream that starts now gets the new transcription settings.
            second_id, sid2, request2 = await call_with_stream(daemon, sim, "Hello again.")
            async with open_twilio_media_stream(request2.url, call_sid=sid2,
                                                token=request2.token) as stream2:
                await wait_call(daemon, second_id, lambda c: c["transcript"], "the greeting")
                await utterance(stream2)
                heard = await wait_call(daemon, second_id, user_words, "the caller's words")
                assert user_words(heard) == ["New words."]
            dials = [r.get("Timeout") for r in sim.requests if r.path.endswith("/Calls.json")]
            assert dials == ["30", "25"]  # the carrier's dial timeout follows ringTimeoutMs
            # serve.path needs a restart: webhooks are still served where they were.
            assert daemon.health()["webhookUrl"] == webhook_url
            kinds = [(e["type"], e["data"].get("event")) for e in
                     await trio.to_thread.run_sync(events, daemon) if e.get("callId") == call_id]
            assert kinds.count(("call.stream", "started")) == 1  # one stream, never re-opened


def rewrite(daemon: Daemon, old: str, new: str) -> None:
    text = daemon.config.read_text()
    assert old in text
    daemon.config.write_text(text.replace(old, new))


def test_invalid_reload_is_refused_and_the_running_config_is_kept(daemon_factory) -> None:
    daemon: Daemon = daemon_factory()
    rewrite(daemon, 'defaultMode = "conversation"',
            'defaultMode = "notify"\nallowTo = ["+15550001111"]')
    daemon.start()
    port = daemon.health()["localUrl"]

    refused = daemon.cli("call", "--to", "+15550002222", "--message", "Hi.")
    assert refused.returncode == 9 and "outbound.allowTo" in refused.stderr

    # Invalid: the rail changed, and two keys are wrong. Refused whole, with its key paths.
    rewrite(daemon, 'allowTo = ["+15550001111"]',
            'allowTo = ["+15550002222"]\nnotifyHangupDelaySec = -1')
    rewrite(daemon, "maxConcurrentCalls = 3", "maxConcurrentCalls = 0")
    proc = daemon.cli("daemon", "reload")
    assert proc.returncode == 78, proc.stderr
    assert "outbound.notifyHangupDelaySec" in proc.stderr
    assert "maxConcurrentCalls" in proc.stderr
    assert "the running one is kept" in proc.stderr
    as_json = daemon.cli("daemon", "reload", "--json")
    assert as_json.returncode == 78
    error = json.loads(as_json.stdout)["error"]
    assert error["code"] == "config_error"
    assert {i["path"] for i in error["issues"]} == {"outbound.notifyHangupDelaySec",
                                                    "maxConcurrentCalls"}
    # Valid for the schema, refused by the mock carrier's own check: refused the same way.
    rewrite(daemon, "replyDelayMs = 100", "replyDelayMs = 100\nhangupAfterReplies = 0")
    rewrite(daemon, "notifyHangupDelaySec = -1", "notifyHangupDelaySec = 1")
    rewrite(daemon, "maxConcurrentCalls = 0", "maxConcurrentCalls = 3")
    carrier = daemon.cli("daemon", "reload")
    assert carrier.returncode == 78 and "mock.hangupAfterReplies" in carrier.stderr
    rewrite(daemon, "hangupAfterReplies = 0\n", "")
    rewrite(daemon, "notifyHangupDelaySec = 1", "notifyHangupDelaySec = -1")
    rewrite(daemon, "maxConcurrentCalls = 3", "maxConcurrentCalls = 0")
    # Still serving, with the old rail.
    assert daemon.health()["ok"] is True
    again = daemon.cli("call", "--to", "+15550002222", "--message", "Hi.")
    assert again.returncode == 9 and "outbound.allowTo" in again.stderr

    # Valid, with a restart-only key: the rail applies, serve.port is named and kept.
    rewrite(daemon, "notifyHangupDelaySec = -1", "notifyHangupDelaySec = 1")
    rewrite(daemon, "maxConcurrentCalls = 0", "maxConcurrentCalls = 3")
    rewrite(daemon, "port = 0", "port = 1")
    rewrite(daemon, '"Yes, ten works."', '"Reloaded: eleven works."')
    result = daemon.cli_json("daemon", "reload")
    assert result == {"ok": True, "applied": ["outbound.notifyHangupDelaySec", "outbound.allowTo",
                                              "mock.replies"],
                      "needsRestart": ["serve.port"]}
    assert daemon.health()["localUrl"] == port
    # The new rail and the mock carrier's new script apply to the next call.
    call_id = daemon.cli_json("call", "--to", "+15550002222", "--message", "Hi.",
                              "--mode", "conversation")["callId"]
    turn = daemon.cli_json("continue", "--call-id", call_id, "--message", "Does ten work?")
    assert turn["transcript"] == "Reloaded: eleven works."
    human = daemon.cli("daemon", "reload")
    assert human.returncode == 0
    assert "needs a restart to apply (kept as they were): serve.port" in human.stderr
    reloaded = [e["data"] for e in events(daemon) if e["type"] == "daemon.reloaded"]
    assert reloaded == [{"applied": result["applied"], "needsRestart": ["serve.port"]},
                        {"applied": [], "needsRestart": ["serve.port"]}]


def test_sighup_reloads_a_running_daemon(daemon_factory) -> None:
    daemon: Daemon = daemon_factory()
    daemon.start()
    rewrite(daemon, "maxConcurrentCalls = 3", "maxConcurrentCalls = 0")
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)  # invalid: logged, nothing changes
    daemon.wait_for(lambda: "config reload refused" in daemon.log.read_text(),
                    what="the refusal in the log")
    assert "maxConcurrentCalls" in daemon.log.read_text()
    rewrite(daemon, "maxConcurrentCalls = 0", "maxConcurrentCalls = 2")
    daemon.proc.send_signal(signal.SIGHUP)
    reloaded = daemon.wait_for(
        lambda: [e["data"] for e in events(daemon) if e["type"] == "daemon.reloaded"],
        what="the daemon.reloaded event")
    assert reloaded == [{"applied": ["maxConcurrentCalls"], "needsRestart": []}]
    shown = daemon.cli("tail", "--since", "all", "--no-follow", check=True).stdout
    assert "config reloaded: applied maxConcurrentCalls; needs a restart: nothing" in shown
    assert daemon.health()["ok"] is True and daemon.proc.poll() is None


def test_the_unit_reloads_with_sighup() -> None:
    unit = (Path(__file__).resolve().parents[2] / "daemon" / "voicecall.service").read_text()
    reload = [line for line in unit.splitlines() if line.startswith("ExecReload=")]
    assert reload == ["ExecReload=/bin/kill -HUP $MAINPID"]  # what test_sighup_... exercises


def _dial_timeouts(carrier: str, sim) -> list[object]:
    """The ring timeout of every dial the carrier's simulator received."""
    if carrier == "telnyx":
        return [r.body.get("timeout_secs") for r in sim.requests
                if r.method == "POST" and r.path == "/v2/calls"]
    return [r.body.get("ring_timeout") for r in sim.requests
            if r.method == "POST" and r.path.rstrip("/").endswith("/Call")]


@pytest.mark.parametrize("carrier", ["telnyx", "plivo"])
async def test_a_reloaded_ring_timeout_is_the_next_dials(carrier: str) -> None:
    from voicecall_cli.simulator.plivo.simulator import CalleeScript as PlivoCallee
    from voicecall_cli.simulator.telnyx.simulator import CalleeScript as TelnyxCallee

    from .test_plivo import plivo_daemon
    from .test_telnyx import telnyx_daemon

    opened = (telnyx_daemon(TelnyxCallee()) if carrier == "telnyx"
              else plivo_daemon(PlivoCallee()))
    with trio.fail_after(60):
        async with opened as (daemon, sim):
            daemon.config.write_text("ringTimeoutMs = 25000\n" + daemon.config.read_text())
            result = await cli_json(daemon, "daemon", "reload")
            assert result == {"ok": True, "applied": ["ringTimeoutMs"], "needsRestart": []}
            await cli_json(daemon, "call", "--message", "Hi.", "--mode", "notify")
            await until(lambda: _dial_timeouts(carrier, sim), "the dial")
            assert [int(t) for t in _dial_timeouts(carrier, sim)] == [25]  # default: 30
