"""The post-call hook's pure rules and its configuration (issue #15, item 4): what
``hooks.onCallEnded`` may name, the Stripe-like signature (checked against ``hmac`` directly),
the retry schedule, and the ``hooks`` table's validation and redaction."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicecall_cli.core.hooks import (
    HookTarget,
    HookTargetError,
    backoff_s,
    parse_target,
    retryable_status,
    signature_header,
    verify_signature,
)

from .config.util import errors_of, from_obj

SECRET = "whsec-0123456789abcdef"


@pytest.mark.parametrize(("value", "target"), [
    ("https://hooks.example.com/calls?x=1", HookTarget("url", url="https://hooks.example.com/calls?x=1")),
    ("http://127.0.0.1:8080/h", HookTarget("url", url="http://127.0.0.1:8080/h")),
    ("http://[::1]/h", HookTarget("url", url="http://[::1]/h")),
    ("http://localhost/h", HookTarget("url", url="http://localhost/h")),
    ("/usr/local/bin/on-call 'two words' --flag", HookTarget(
        "command", argv=("/usr/local/bin/on-call", "two words", "--flag"))),
    ("notify-send $HOME | tee", HookTarget("command", argv=("notify-send", "$HOME", "|", "tee"))),
])
def test_a_target_is_a_url_or_a_command_split_without_a_shell(value, target):
    assert parse_target(value) == target


@pytest.mark.parametrize(("value", "says"), [
    ("http://hooks.example.com/h", "only to a loopback address"),
    ("http://10.0.0.5/h", "only to a loopback address"),
    ("ftp://example.com/h", "must be https://"),
    ("https:///nohost", "with a host"),
    ("run 'unbalanced", "not a valid command line"),
    ("   ", "names no command"),
])
def test_unusable_targets_are_refused_with_the_reason(value, says):
    with pytest.raises(HookTargetError, match=says):
        parse_target(value)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"found":true,"call":{"callId":"c1"}}'
    header = signature_header(SECRET, 1_764_000_000, body)
    expected = hmac.new(SECRET.encode(), b"1764000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1764000000,v1={expected}"
    assert verify_signature(SECRET, header, body)
    assert not verify_signature(SECRET, header, body + b" ")
    assert not verify_signature("another-secret", header, body)
    assert not verify_signature(SECRET, "v1=" + expected, body)


def test_retries_follow_5xx_and_429_with_a_doubling_capped_backoff():
    assert [retryable_status(s) for s in (200, 301, 400, 404, 429, 500, 503, 599)] == [
        False, False, False, False, True, True, True, True]
    assert [backoff_s(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_s(20) == 30.0
    assert backoff_s(1, "7") == 7.0  # a longer Retry-After wins
    assert backoff_s(3, "1") == 2.0  # a shorter one does not
    assert backoff_s(1, "3600") == 30.0 and backoff_s(1, "soon") == 0.5


def test_the_hooks_table_gets_defaults_only_when_written():
    assert "hooks" not in from_obj({}).data
    config = from_obj({"hooks": {"onCallEnded": "https://h.example/x", "secret": SECRET}})
    assert config.data["hooks"] == {"onCallEnded": "https://h.example/x", "secret": SECRET,
                                    "timeoutMs": 10000, "retries": 3}
    assert config.redacted()["hooks"]["secret"] == "***"
    assert SECRET not in repr(config.redacted())
    assert config.warnings == []


def test_plain_http_to_loopback_is_allowed_with_a_warning():
    config = from_obj({"hooks": {"onCallEnded": "http://127.0.0.1:9000/h", "secret": SECRET}})
    [warning] = config.warnings
    assert "hooks.onCallEnded" in warning and "loopback" in warning and "tests" in warning


def test_hook_configuration_errors_name_the_key_and_never_the_secret():
    assert errors_of({"hooks": {"onCallEnded": "http://example.com/h", "secret": SECRET}}) == {
        "hooks.onCallEnded": "a plain http:// URL is allowed only to a loopback address "
                             "(127.0.0.1, ::1, localhost); use https://"}
    assert errors_of({"hooks": {"onCallEnded": "https://h.example/x"}}) == {
        "hooks.secret": "hooks.secret is required for a URL hook (the key of its "
                        "HMAC-SHA256 signature)"}
    assert errors_of({"hooks": {"secret": SECRET}}) == {
        "hooks.onCallEnded": "hooks.onCallEnded is required (a command line or an https:// "
                             "URL)"}
    assert set(errors_of({"hooks": {"onCallEnded": "x", "timeoutMs": 5, "retries": 11,
                                    "secert": 1}})) == {
        "hooks.timeoutMs", "hooks.retries", "hooks.secert"}
    bad_secret = errors_of({"hooks": {"onCallEnded": "x", "secret": ["not", SECRET]}})
    assert SECRET not in str(bad_secret)


@settings(deadline=None, derandomize=True, max_examples=300,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60),
                 st.builds(lambda scheme, rest: f"{scheme}://{rest}",
                           st.sampled_from(["http", "https", "HTTP", "ftp", "file"]),
                           st.text(max_size=40))))
def test_any_text_is_a_target_or_a_clear_refusal(value):
    try:
        target = parse_target(value)
    except HookTargetError as exc:
        assert len(value.strip()) < 12 or value.strip() not in str(exc)  # never echoed
        return
    assert (target.kind == "command" and target.argv) or (
        target.kind == "url" and target.url.lower().startswith(("https://", "http://")))
