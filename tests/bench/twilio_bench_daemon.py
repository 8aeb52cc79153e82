"""What the webhook benchmarks share: the Twilio daemon config they run ``voicecall daemon run``
with (signatures verify against ``publicUrl``; the REST API is a closed port, as nothing is
dialled) and a free loopback port. Imported by the bench scripts, which run as files, and by
the store-failure test (``tests.bench.twilio_bench_daemon``)."""

from __future__ import annotations

import socket
from pathlib import Path

AUTH_TOKEN = "bench_auth_token_0123456789abcdef"  # the driver's and setup-openclaw.sh's
PUBLIC_URL = "https://voice.example.test/voice/webhook"  # the driver's default

CONFIG = """provider = "twilio"
fromNumber = "+15550009999"
store = "{store}"
publicUrl = "{public}"
[serve]
bind = "127.0.0.1"
port = {port}
[twilio]
accountSid = "AC00000000000000000000000000000000"
authToken = "{token}"
apiBaseUrl = "http://127.0.0.1:9"
"""


def twilio_config(*, store: Path, port: int, control_socket: Path | None = None,
                  token: str = AUTH_TOKEN) -> str:
    """The config text; ``control_socket`` (when given) is written as ``controlSocket``;
    ``token`` is the Twilio auth token webhooks are signed with."""
    text = CONFIG.format(store=store, public=PUBLIC_URL, port=port, token=token)
    if control_socket is not None:
        text = f'controlSocket = "{control_socket}"\n' + text
    return text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
