"""``voicecall config ...`` and how the CLI finds the socket through the config file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from tests.cli.conftest import Env, run_cli
from tests.cli.fake_daemon import FakeDaemon

SECRET = "tok-0123456789abcdef"


def default_config(env: Env) -> Path:
    return env.config_home / "voicecall" / "config.toml"


async def test_path_follows_option_environment_and_default(env: Env, monkeypatch) -> None:
    result = await run_cli("config", "path")
    assert result.stdout == f"{default_config(env)}\n"
    monkeypatch.setenv("VOICECALL_CONFIG", str(env.root / "from-env.json"))
    assert (await run_cli("config", "path")).stdout == f"{env.root / 'from-env.json'}\n"
    explicit = await run_cli("--config", str(env.root / "x.toml"), "config", "path", "--json")
    assert json.loads(explicit.stdout) == {"path": str(env.root / "x.toml"), "exists": False,
                                           "socket": str(env.root / "run" / "voicecall" /
                                                         "control.sock")}


async def test_config_path_socket_finds_the_socket_as_the_commands_do(
        env: Env, monkeypatch) -> None:
    default = await run_cli("config", "path", "--socket")
    assert default.stdout == f"{env.root / 'run' / 'voicecall' / 'control.sock'}\n"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.delenv("TMPDIR", raising=False)
    fallback = await run_cli("config", "path", "--socket")
    assert fallback.stdout == f"/tmp/voicecall-{os.getuid()}/control.sock\n"
    config = env.root / "with-socket.toml"
    config.write_text('controlSocket = "sock/control.sock"\n')
    configured = await run_cli("--config", str(config), "config", "path", "--socket")
    assert configured.stdout == f"{env.root / 'sock' / 'control.sock'}\n"
    explicit = await run_cli("--socket", "/tmp/elsewhere.sock", "config", "path", "--socket")
    assert explicit.stdout == "/tmp/elsewhere.sock\n"


async def test_init_writes_a_private_starter_and_refuses_to_overwrite(env: Env) -> None:
    path = default_config(env)
    first = await run_cli("config", "init")
    assert first.exit_code == 0, first.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert 'provider = "mock"' in path.read_text()
    assert str(path) in first.stderr

    path.write_text("# mine\n")
    again = await run_cli("config", "init")
    assert again.exit_code == 1 and "--force" in again.stderr
    assert path.read_text() == "# mine\n"
    forced = await run_cli("config", "init", "--force")
    assert forced.exit_code == 0 and 'provider = "mock"' in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_validate_ok_and_broken(env: Env) -> None:
    assert (await run_cli("config", "init")).exit_code == 0
    ok = await run_cli("config", "validate")
    assert ok.exit_code == 0 and ok.stdout == f"ok: {default_config(env)}\n"

    default_config(env).write_text('provider = "mock"\n[serve]\nprot = 3334\n')
    broken = await run_cli("config", "validate")
    assert broken.exit_code == 78
    assert "serve.prot" in broken.stderr and broken.stdout == ""
    as_json = await run_cli("config", "validate", "--json")
    assert as_json.exit_code == 78
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["issues"][0]["path"] == "serve.prot"


async def test_a_named_config_that_is_missing_is_a_config_error(env: Env) -> None:
    result = await run_cli("--config", str(env.root / "nope.toml"), "config", "validate")
    assert result.exit_code == 78 and "not found" in result.stderr


async def test_show_redacts_secrets(env: Env) -> None:
    path = env.root / "twilio.toml"
    path.write_text('provider = "twilio"\nfromNumber = "+15550001234"\n'
                    f'[twilio]\naccountSid = "AC{"0" * 32}"\nauthToken = "{SECRET}"\n')
    as_json = await run_cli("--config", str(path), "config", "show", "--json")
    assert as_json.exit_code == 0, as_json.output
    shown = json.loads(as_json.stdout)
    assert shown["provider"] == "twilio" and shown["twilio"]["authToken"] == "***"
    human = await run_cli("--config", str(path), "config", "show")
    assert human.exit_code == 0
    assert "[twilio]" in human.stdout and 'authToken = "***"' in human.stdout
    assert SECRET not in human.output + as_json.output


async def test_socket_comes_from_the_config_file(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"calls": []})
    path = default_config(env)
    path.parent.mkdir(parents=True)
    path.write_text(f'controlSocket = "{env.socket}"\n')
    result = await run_cli("status", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"calls": []}


async def test_socket_from_a_whole_openclaw_file_relative_to_it(env: Env,
                                                                fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"calls": []})
    openclaw = env.root / "openclaw.json5"
    openclaw.write_text("{ // OpenClaw\n plugins: { entries: { 'voice-call': { config: "
                        f"{{ controlSocket: '{env.socket.name}' }} }} }} }} }}\n")
    result = await run_cli("--config", str(openclaw), "status", "--json")
    assert result.exit_code == 0, result.output


async def test_socket_from_an_openclaw_json_written_in_json5(env: Env, fake: FakeDaemon) -> None:
    """OpenClaw writes ``openclaw.json`` in JSON5: the CLI reads ``controlSocket`` from it."""
    fake.answer("voicecall.status", {"calls": []})
    openclaw = env.root / "openclaw.json"
    openclaw.write_text("// OpenClaw\n{\n  plugins: { entries: { 'voice-call': {\n"
                        f"    config: {{ controlSocket: '{env.socket.name}', }},\n"
                        "  }, }, },\n}\n")
    result = await run_cli("--config", str(openclaw), "status", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"calls": []}
    validated = await run_cli("--config", str(openclaw), "config", "validate")
    assert validated.exit_code == 0, validated.output


async def test_an_openclaw_json_with_only_messages_tts_validates_and_shows_its_tts(
        env: Env) -> None:
    openclaw = env.root / "openclaw.json"
    openclaw.write_text("{\n  // no voice-call entry\n  messages: { tts: { provider: 'openai', "
                        f"openai: {{ voice: 'alloy', apiKey: 'sk-{SECRET}' }} }} }},\n}}\n")
    validated = await run_cli("--config", str(openclaw), "config", "validate", "--json")
    assert validated.exit_code == 0, validated.output
    report = json.loads(validated.stdout)
    assert report["ok"] is True
    assert any("no plugins.entries.voice-call entry" in w for w in report["warnings"])
    shown = await run_cli("--config", str(openclaw), "config", "show", "--json")
    assert shown.exit_code == 0, shown.output
    effective = json.loads(shown.stdout)
    assert effective["provider"] == "mock"
    assert effective["tts"]["openai"] == {"voice": "alloy", "apiKey": "***"}
    assert SECRET not in validated.output + shown.output


async def test_a_broken_json_config_never_shows_the_broken_line(env: Env) -> None:
    config = env.root / "openclaw.json"
    config.write_text('{\n  "controlSocket": "/x",\n  "authToken": ' + SECRET + '\n}\n')
    for args in (("status", "--json"), ("config", "validate")):
        result = await run_cli("--config", str(config), *args)
        assert result.exit_code == 78, result.output
        assert str(config) in result.stderr
        assert SECRET[:6] not in result.output
    validated = await run_cli("--config", str(config), "config", "validate")
    assert "(line 3, column " in validated.stderr


async def test_socket_option_and_environment_win_over_the_config(env: Env, fake: FakeDaemon,
                                                                 monkeypatch) -> None:
    fake.answer("voicecall.status", {"calls": []})
    config = env.root / "c.json"
    config.write_text(json.dumps({"controlSocket": str(env.root / "elsewhere.sock")}))
    monkeypatch.setenv("VOICECALL_SOCKET", str(env.socket))
    assert (await run_cli("--config", str(config), "status", "--json")).exit_code == 0
    monkeypatch.delenv("VOICECALL_SOCKET")
    assert (await run_cli("--config", str(config), "status", "--json")).exit_code == 7
    assert (await run_cli("--config", str(config), "--socket", str(env.socket), "status",
                          "--json")).exit_code == 0


async def test_an_unreadable_config_exits_78(env: Env) -> None:
    config = env.root / "bad.toml"
    config.write_text(f'controlSocket = "/x"\nauthToken = "{SECRET}\n')  # unterminated string
    result = await run_cli("--config", str(config), "status", "--json")
    assert result.exit_code == 78
    assert str(config) in result.stderr and SECRET not in result.stderr
    config.write_text("controlSocket = 7\n")
    wrong_type = await run_cli("--config", str(config), "status")
    assert wrong_type.exit_code == 78 and "controlSocket" in wrong_type.stderr


# ---- validate says what the daemon will do ------------------------------------------------------

TWILIO_TOML = ('provider = "twilio"\nfromNumber = "+15550001234"\n'
               f'[twilio]\naccountSid = "AC{"0" * 32}"\nauthToken = "{SECRET}"\n')


async def test_validate_accepts_a_complete_plivo_config(env: Env) -> None:
    path = env.root / "plivo.toml"
    path.write_text('provider = "plivo"\nfromNumber = "+15550001234"\n'
                    'publicUrl = "https://voice.example.com/voice/webhook"\n'
                    f'[plivo]\nauthId = "MA1"\nauthToken = "{SECRET}"\n')
    as_json = await run_cli("--config", str(path), "config", "validate", "--json")
    assert as_json.exit_code == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["ok"] is True and "issues" not in report
    assert SECRET not in as_json.stdout


async def test_validate_refuses_twilio_without_a_public_url(env: Env) -> None:
    path = env.root / "twilio.toml"
    path.write_text(TWILIO_TOML)
    result = await run_cli("--config", str(path), "config", "validate")
    assert result.exit_code == 78
    assert result.stderr.startswith("voicecall: publicUrl: publicUrl is required with provider "
                                    '"twilio": Twilio cannot reach')
    assert "Set publicUrl to the public https URL" in result.stderr
    assert SECRET not in result.output

    path.write_text('publicUrl = "https://voice.example.com/voice/webhook"\n' + TWILIO_TOML)
    fixed = await run_cli("--config", str(path), "config", "validate")
    assert fixed.exit_code == 0 and fixed.stderr == "" and fixed.stdout == f"ok: {path}\n"


async def test_validate_accepts_a_trusted_proxy_with_a_named_warning(env: Env) -> None:
    path = env.root / "proxy.toml"
    path.write_text(TWILIO_TOML + '[webhookSecurity]\nallowedHosts = ["voice.example.com"]\n'
                    'trustedProxyIPs = ["10.0.0.1"]\n')
    result = await run_cli("--config", str(path), "config", "validate")
    assert result.exit_code == 0 and result.stdout == f"ok: {path}\n"
    assert result.stderr.startswith("voicecall: warning: publicUrl is unset: inbound webhooks "
                                    "through the trusted proxy")
    as_json = json.loads((await run_cli("--config", str(path), "config", "validate",
                                        "--json")).stdout)
    assert as_json["ok"] is True
    assert [w.split(":")[0] for w in as_json["warnings"]] == ["publicUrl is unset"]


MOCK_WITH_IGNORED_SETTINGS = """\
provider = "mock"
silenceTimeoutMs = 900
[tunnel]
provider = "ngrok"
[tailscale]
mode = "funnel"
"""


async def test_settings_not_acted_on_are_warnings_in_validate_and_show(env: Env) -> None:
    path = env.root / "mock.toml"
    path.write_text(MOCK_WITH_IGNORED_SETTINGS)
    result = await run_cli("--config", str(path), "config", "validate")
    assert result.exit_code == 0 and result.stdout == f"ok: {path}\n"
    warned = [line.removeprefix("voicecall: warning: ").split(" ")[0]
              for line in result.stderr.splitlines()]
    assert warned == ["tailscale.mode", "silenceTimeoutMs"]  # tunnel.provider wins
    report = json.loads((await run_cli("--config", str(path), "config", "validate",
                                       "--json")).stdout)
    assert [w.split(" ")[0] for w in report["warnings"]] == warned
    shown = await run_cli("--config", str(path), "config", "show", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["tunnel"]["provider"] == "ngrok"
    assert shown.stderr == result.stderr


async def test_show_says_when_the_daemon_will_not_start(env: Env) -> None:
    path = env.root / "twilio.toml"
    path.write_text(TWILIO_TOML + '[tunnel]\nngrokDomain = "voice.example.com"\n')
    shown = await run_cli("--config", str(path), "config", "show")
    assert shown.exit_code == 0 and "[twilio]" in shown.stdout
    assert "voicecall: warning: the daemon will not start: publicUrl: publicUrl is required" \
        in shown.stderr
    # validate lists the warnings, then the error
    validated = await run_cli("--config", str(path), "config", "validate")
    assert validated.exit_code == 78
    lines = validated.stderr.splitlines()
    assert lines[0] == ('voicecall: warning: tunnel.ngrokDomain is not used: tunnel.provider '
                        'is not "ngrok"')
    assert lines[1].startswith("voicecall: publicUrl: ")
    assert SECRET not in shown.output + validated.output


async def test_validate_refuses_switched_off_voice_calls_as_the_daemon_does(env: Env) -> None:
    path = env.root / "openclaw.json"
    path.write_text("{ plugins: { entries: { 'voice-call': { enabled: false } } } }\n")
    result = await run_cli("--config", str(path), "config", "validate", "--json")
    assert result.exit_code == 78
    assert json.loads(result.stdout)["issues"] == [{
        "path": "plugins.entries.voice-call.enabled",
        "message": "voice calls are disabled (enabled = false)"}]
