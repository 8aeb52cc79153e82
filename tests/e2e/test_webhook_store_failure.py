"""A carrier webhook is acknowledged only once what it said is stored (issue #14 item 10).

A real ``voicecall daemon run`` (Twilio) whose store cannot grow: the process runs with
``RLIMIT_FSIZE`` (and SIGXFSZ ignored, so a write past the limit fails with EFBIG instead of
killing it), so SQLite's WAL writes start failing after a few dozen webhooks, exactly like a
full disk. Webhooks are signed with twilio's own ``RequestValidator``. Every webhook answered
2xx must be in the store; the others must be refused (503), and once the limit is lifted
(``prlimit`` on the running daemon: the disk got space back) the carrier's retries of the
refused ones are stored, not swallowed as replays.
"""

from __future__ import annotations

import http.client
import resource
import signal
import sqlite3
import subprocess
import uuid
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from tests.bench.twilio_bench_daemon import PUBLIC_URL, free_port, twilio_config
from tests.e2e.conftest import VOICECALL, Daemon, daemon_env

TOKEN = "store_failure_auth_token_0123456789"
LIMIT = 1024 * 1024  # bytes any file of the daemon may reach: the WAL outgrows it quickly


def _limited() -> None:  # runs in the child before exec: both survive exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))


def _status_webhook() -> tuple[str, bytes, dict[str, str]]:
    call_sid = "CA" + uuid.uuid4().hex
    params = {"AccountSid": "AC00000000000000000000000000000000", "CallSid": call_sid,
              "CallStatus": "completed", "Direction": "outbound-api", "CallDuration": "3",
              "From": "+15557654321", "To": "+15550001234", "ApiVersion": "2010-04-01"}
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(PUBLIC_URL,
                                                                                params)}
    return call_sid, urlencode(params).encode(), headers


def _post(port: int, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/voice/webhook", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _stored_call_sids(store: str) -> set[str]:
    with sqlite3.connect(f"{store}/voicecall.sqlite3") as db:
        return {row[0] for row in db.execute("SELECT provider_call_id FROM calls")}


def test_webhooks_are_acknowledged_only_once_stored_and_retries_land(tmp_path):
    port = free_port()
    store = tmp_path / "state"
    config = tmp_path / "config.toml"
    config.write_text(twilio_config(store=store, port=port, token=TOKEN))
    daemon = Daemon(root=tmp_path, config=config, socket=tmp_path / "control.sock")
    with daemon.log.open("ab") as log:
        daemon.proc = subprocess.Popen(
            [*VOICECALL, "--socket", str(daemon.socket), "--config", str(config), "daemon",
             "run"], stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=daemon_env(),
            preexec_fn=_limited)
    try:
        daemon.wait_ready()
        answered: dict[str, int] = {}
        refused: list[tuple[str, bytes, dict[str, str]]] = []
        for _ in range(120):  # ~8 WAL pages a webhook: the limit is hit after a few dozen
            call_sid, body, headers = _status_webhook()
            answered[call_sid] = _post(port, body, headers)
            if answered[call_sid] != 200:
                refused.append((call_sid, body, headers))
                if len(refused) >= 5:
                    break
        acknowledged = {sid for sid, status in answered.items() if status == 200}
        lost = acknowledged - _stored_call_sids(str(store))
        assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged webhooks not stored"
        assert set(answered.values()) <= {200, 503}, answered
        assert acknowledged
        assert len(refused) == 5, "the store never failed: the test did not test anything"
        assert daemon.proc.poll() is None, "the daemon died of a full store"
        # The carrier retries while the store still fails: refused again, not a replay.
        assert _post(port, refused[0][1], refused[0][2]) == 503

        # Space comes back; the carrier's retries are processed and stored.
        resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        for call_sid, body, headers in refused:
            answered[call_sid] = _post(port, body, headers)
        assert [answered[sid] for sid, _, _ in refused] == [200] * 5
    finally:
        daemon.stop()
    acknowledged = {sid for sid, status in answered.items() if status == 200}
    assert acknowledged <= _stored_call_sids(str(store))
    log = daemon.log.read_text()
    assert "refused with 503" in log and TOKEN not in log
