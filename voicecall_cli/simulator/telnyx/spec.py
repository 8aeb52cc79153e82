"""``SIMULATOR``: the fake Telnyx as ``python -m voicecall_cli.simulator telnyx`` runs it.

Beyond the common options it takes ``--reply-delay`` and ``--say-pace``. Each run makes a fresh
API key, connection id (Call Control App id) and Ed25519 signing key, listens, and reports
``apiKey``/``connectionId``/``publicKey`` as details and the daemon config
``{provider, telnyx: {apiKey, connectionId, publicKey, apiBaseUrl}}``, plus a scripted
``streaming`` block when ``--stream-audio`` makes the callee speak on media streams. The
private key never leaves the simulator.

The simulator itself (trio, hypercorn, httpx, cryptography) is imported only when it is served.
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
                        help="seconds a speak command takes per character")


@asynccontextmanager
async def _serve(args: argparse.Namespace) -> AsyncIterator[Started]:
    from voicecall_cli.simulator.telnyx.simulator import CalleeScript, run_telnyx_simulator

    api_key = "KEY" + secrets.token_hex(16).upper() + "_" + secrets.token_urlsafe(16)
    connection_id = str(secrets.randbelow(9 * 10**18) + 10**18)
    callee = CalleeScript(replies=args.reply or CalleeScript().replies,
                          reply_delay_s=args.reply_delay, say_seconds_per_char=args.say_pace,
                          stream_audio=args.stream_audio)
    async with run_telnyx_simulator(api_key=api_key, connection_id=connection_id,
                                    port=args.port, callee=callee) as sim:
        config: dict[str, object] = {
            "provider": "telnyx",
            "telnyx": {"apiKey": api_key, "connectionId": connection_id,
                       "publicKey": sim.public_key, "apiBaseUrl": sim.base_url},
        }
        if args.stream_audio:
            config["streaming"] = scripted_streaming(callee.replies)
        yield Started(base_url=sim.base_url, config=config,
                      details={"apiKey": api_key, "connectionId": connection_id,
                               "publicKey": sim.public_key})


SIMULATOR = SimulatorSpec(
    name="telnyx",
    display_name="Telnyx",
    help="a fake Telnyx Call Control API and call runner",
    add_arguments=_add_arguments,
    serve=_serve,
)
