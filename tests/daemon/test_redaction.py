"""The daemon log's secret filter (issue #14, item 13): fed from the config's secret fields,
it removes every configured secret from every record, in every form it travels in."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator

import pytest

from voicecall_cli.core.config import load_config
from voicecall_cli.daemon import redaction

SID = "AC" + "5e" * 16
TOKEN = "tok-sEcReT/+=0123456789"
NGROK = "ngrok_2abcDEFsecret"
CONFIG = f"""
provider = "twilio"
fromNumber = "+15550009999"
[twilio]
accountSid = "{SID}"
authToken = "{TOKEN}"
[tunnel]
ngrokAuthToken = "{NGROK}"
"""


@pytest.fixture
def daemon_log(tmp_path) -> Iterator[io.StringIO]:
    """The root logger writing to a buffer, the way ``python -m voicecall_cli.daemon`` sets
    it up, with the filter installed from a real config file."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    config = load_config(path, {}, explicit=True)
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        redaction.install(config)
        yield sink
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        redaction.install(type("Empty", (), {"get": staticmethod(lambda _p: None)})())


def test_no_configured_secret_leaves_in_any_form(daemon_log: io.StringIO) -> None:
    basic = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    log = logging.getLogger("voicecall.providers.twilio")
    log.warning("POST https://api.twilio.com/2010-04-01/Accounts/%s/Calls.json", SID)
    log.warning("Authorization: Basic %s; ngrok %s", basic, NGROK)
    log.warning("url-encoded: %s", "token=tok-sEcReT%2F%2B%3D0123456789")
    try:
        raise RuntimeError(f"carrier refused {SID} with {TOKEN}")
    except RuntimeError:
        log.exception("dial failed")
    text = daemon_log.getvalue()
    for secret in (SID, TOKEN, NGROK, basic, "tok-sEcReT%2F%2B%3D0123456789"):
        assert secret not in text
    assert text.count("***") >= 6
    assert "/Accounts/***/Calls.json" in text and "RuntimeError: carrier refused ***" in text


def test_the_http_client_does_not_log_request_urls(daemon_log: io.StringIO) -> None:
    logging.getLogger("httpx").info("HTTP Request: GET https://api.example/Accounts/X1234567")
    assert daemon_log.getvalue() == ""
    assert redaction.redact(f"the daemon failed: {SID}") == "the daemon failed: ***"
