"""``SIMULATOR``: the fake Twilio as ``python -m voicecall_cli.simulator twilio`` runs it.

Beyond the common options it takes ``--reply-delay`` and ``--say-pace``. It makes a fresh
AccountSid and auth token, listens, and reports ``accountSid``/``authToken`` as details and the
daemon config ``{provider, twilio: {accountSid, authToken, apiBaseUrl}}``, plus a scripted
``streaming`` block when ``--stream-audio`` makes the callee speak on Media Streams.

The simulator itself (trio, hypercorn, httpx) is imported only when it is served.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from voicecall_cli.simulator.base import SimulatorSpec, Started, scripted_streaming


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reply-delay", type=float, default=0.6,
                        help="seconds the callee waits before each reply")
    parser.add_argument("--say-pace", type=float, default=0.03,
                        help="seconds a <Say> takes per character")


@asynccontextmanager
async def _serve(args: argparse.Namespace) -> AsyncIterator[Started]:
    from voicecall_cli.simulator.twilio.simulator import CalleeScript, run_twilio_simulator

    account_sid = "AC" + secrets.token_hex(16)
    auth_token = secrets.token_hex(16)
    callee = CalleeScript(replies=args.reply or CalleeScript().replies,
                          reply_delay_s=args.reply_delay, say_seconds_per_char=args.say_pace,
                          stream_audio=args.stream_audio)
    async with run_twilio_simulator(account_sid=account_sid, auth_token=auth_token,
                                    port=args.port, callee=callee) as sim:
        config: dict[str, object] = {
            "provider": "twilio",
            "twilio": {"accountSid": account_sid, "authToken": auth_token,
                       "apiBaseUrl": sim.base_url},
        }
        if args.stream_audio:
            config["streaming"] = scripted_streaming(callee.replies)
        yield Started(base_url=sim.base_url, config=config,
                      details={"accountSid": account_sid, "authToken": auth_token})


SIMULATOR = SimulatorSpec(
    name="twilio",
    display_name="Twilio",
    help="a fake Twilio REST API and call runner",
    add_arguments=_add_arguments,
    serve=_serve,
)
