"""Reading the ngrok agent's JSON log (lines in the shapes ngrok v3 writes them)."""

from __future__ import annotations

import pytest

from voicecall_cli.core.tunnels.ngrok import (
    AUTH_HINT,
    DOMAIN_HINT,
    AgentRefused,
    TunnelStarted,
    agent_args,
    error_message,
    exit_message,
    mask,
    parse_log_line,
    public_base,
    spawn_failed_message,
    stderr_refusal,
    timeout_message,
)

# Keys sorted (older v3 agents) and in writing order with an object addr (newer ones).
STARTED_SORTED = (
    '{"addr":"http://localhost:3334","lvl":"info","msg":"started tunnel","name":"command_line",'
    '"obj":"tunnels","t":"2026-03-01T10:00:01Z","url":"https://ab12-203-0-113-7.ngrok-free.app"}')
STARTED_NEWER = (
    '{"t":"2026-03-01T10:00:01+0100","lvl":"info","msg":"started tunnel","obj":"tunnels",'
    '"name":"command_line","addr":{"Scheme":"http","Host":"localhost:3334"},'
    '"url":"https://voice.example.ngrok.app"}')
WEB_SERVICE = ('{"addr":"127.0.0.1:4040","allow_hosts":null,"lvl":"info",'
               '"msg":"starting web service","obj":"web","t":"2026-03-01T10:00:00Z"}')
AUTH_4018 = (
    '{"err":"authentication failed: Usage of ngrok requires a verified account and authtoken.'
    '\\n\\nSign up for an account: https://dashboard.ngrok.com/signup\\nInstall your authtoken: '
    'https://dashboard.ngrok.com/get-started/your-authtoken\\r\\n\\r\\nERR_NGROK_4018\\r\\n",'
    '"lvl":"eror","msg":"failed to reconnect session","obj":"tunnels.session",'
    '"t":"2026-03-01T10:00:01Z"}')
AUTH_105 = (
    '{"err":"authentication failed: The authtoken you specified does not look like a proper '
    'ngrok tunnel authtoken.\\nYour authtoken: s3cr3t-token\\nInstructions to install your '
    'authtoken are on your ngrok dashboard:\\nhttps://dashboard.ngrok.com/get-started/'
    'your-authtoken\\r\\n\\r\\nERR_NGROK_105\\r\\n","lvl":"eror","msg":"session closing",'
    '"obj":"tunnels.session","t":"2026-03-01T10:00:01Z"}')
DOMAIN_313 = (
    '{"t":"2026-03-01T10:00:02-0300","lvl":"crit","msg":"command failed","err":"failed to start '
    'tunnel: Only paid plans may create endpoints with custom subdomains.\\nThis account is on '
    'the \'Free\' plan.\\r\\n\\r\\nERR_NGROK_313\\r\\n"}')
NETWORK_RETRY = ('{"err":"failed to send authentication request: dial tcp: i/o timeout",'
                 '"lvl":"eror","msg":"failed to reconnect session","t":"2026-03-01T10:00:01Z"}')


@pytest.mark.parametrize(("line", "base"), [
    (STARTED_SORTED, "https://ab12-203-0-113-7.ngrok-free.app"),
    (STARTED_NEWER, "https://voice.example.ngrok.app"),
    # any line with addr and url counts, whatever its msg
    ('{"addr":"http://localhost:80","lvl":"info","msg":"tunnel up",'
     '"url":"https://x.ngrok-free.dev/"}', "https://x.ngrok-free.dev"),
])
def test_started_lines_give_the_https_base(line: str, base: str) -> None:
    assert parse_log_line(line) == TunnelStarted(base)


@pytest.mark.parametrize("line", [
    WEB_SERVICE,  # addr but no url
    '{"err":"<nil>","lvl":"info","msg":"open config file","path":"/home/u/ngrok.yml"}',
    '{"lvl":"info","msg":"client session established","obj":"tunnels.session"}',
    # an http tunnel (v2 opened both schemes): only the https one counts
    '{"addr":"http://localhost:80","lvl":"info","msg":"started tunnel","name":"cmd (http)",'
    '"url":"http://ab12.ngrok.io"}',
    '{"lvl":"warn","msg":"can\'t bind default web address, trying alternatives",'
    '"obj":"web","addr":"127.0.0.1:4040"}',
    '{"lvl":"info","msg":"see the docs","url":"https://ngrok.com/docs"}',  # url, no addr
    NETWORK_RETRY,  # an error without an ERR_NGROK code: the agent retries
    "t=2026-03-01T10:00:00+0000 lvl=info msg=\"starting web service\" obj=web",  # logfmt
    "ERROR:  ERR_NGROK_4018",  # stderr text on stdout: not JSON
    "[1, 2]",
    "",
])
def test_other_lines_say_nothing(line: str) -> None:
    assert parse_log_line(line) is None


def test_an_auth_refusal_is_fatal_with_its_code_and_what_to_change() -> None:
    result = parse_log_line(AUTH_4018)
    assert isinstance(result, AgentRefused)
    assert result.code == "ERR_NGROK_4018"
    assert result.message.startswith("ngrok error: authentication failed: Usage of ngrok")
    assert "\n" not in result.message and "\r" not in result.message
    assert result.message.endswith(f"({AUTH_HINT})")


def test_a_domain_refusal_on_a_crit_line_points_at_the_domain_setting() -> None:
    result = parse_log_line(DOMAIN_313)
    assert isinstance(result, AgentRefused)
    assert result.code == "ERR_NGROK_313"
    assert "Only paid plans" in result.message
    assert result.message.endswith(f"({DOMAIN_HINT})")


def test_a_code_in_msg_counts_too() -> None:
    line = '{"lvl":"crit","msg":"session limit reached ERR_NGROK_108"}'
    assert parse_log_line(line) == AgentRefused(
        "ERR_NGROK_108", "ngrok error: session limit reached ERR_NGROK_108")


def test_the_token_ngrok_quotes_back_is_masked() -> None:
    result = parse_log_line(AUTH_105)
    assert isinstance(result, AgentRefused)
    assert "s3cr3t-token" in result.message  # parsing is not masking...
    masked = mask(result.message, ["s3cr3t-token"])
    assert "s3cr3t-token" not in masked and "Your authtoken: ***" in masked


def test_stderr_error_lines_give_the_refusal() -> None:
    lines = ["ERROR:  authentication failed: Usage of ngrok requires a verified account and "
             "authtoken.", "ERROR:", "ERROR:  Sign up for an account: "
             "https://dashboard.ngrok.com/signup", "ERROR:", "ERROR:  ERR_NGROK_4018"]
    assert stderr_refusal(lines[:3]) is None
    refusal = stderr_refusal(lines)
    assert refusal is not None and refusal.code == "ERR_NGROK_4018"
    assert refusal.message.startswith(
        "ngrok error: authentication failed: Usage of ngrok requires a verified account and "
        "authtoken. Sign up for an account:")
    assert "ERROR:" not in refusal.message


def test_agent_args_follow_the_reference() -> None:
    assert agent_args(3334) == ["http", "3334", "--log", "stdout", "--log-format", "json"]
    assert agent_args(3334, "voice.example.ngrok.app") == [
        "http", "3334", "--log", "stdout", "--log-format", "json",
        "--domain", "voice.example.ngrok.app"]
    assert agent_args(3334, host="127.0.0.1")[1] == "3334"
    assert agent_args(3334, host="10.0.0.5")[1] == "10.0.0.5:3334"
    assert agent_args(3334, host="fd00::5")[1] == "[fd00::5]:3334"


@pytest.mark.parametrize(("url", "base"), [
    ("https://ab12.ngrok-free.app", "https://ab12.ngrok-free.app"),
    ("https://AB12.ngrok-free.app/voice/webhook?x=1", "https://ab12.ngrok-free.app"),
    ("https://example.com:8443/", "https://example.com:8443"),
    ("http://ab12.ngrok.io", None),
    ("tcp://0.tcp.ngrok.io:12345", None),
    ("https://", None),
    ("not a url", None),
])
def test_public_base(url: str, base: str | None) -> None:
    assert public_base(url) == base


def test_mask_replaces_every_secret_everywhere() -> None:
    text = "token abc123 then abc123456 and xyz"
    assert mask(text, ["abc123", None, "", "abc123456"]) == "token *** then *** and xyz"
    assert mask("nothing here", []) == "nothing here"


def test_the_reference_messages() -> None:
    assert exit_message(3) == "ngrok exited unexpectedly with code 3"
    assert exit_message(1, ["ERROR:  bind: permission denied", "ERROR:"]) == (
        "ngrok exited unexpectedly with code 1: bind: permission denied")
    assert timeout_message() == "ngrok startup timed out (30s)"
    assert timeout_message(0.5) == "ngrok startup timed out (0.5s)"
    assert spawn_failed_message("Permission denied") == "Failed to start ngrok: Permission denied"
    assert error_message("x" * 1000).endswith("...")
