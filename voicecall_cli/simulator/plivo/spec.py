"""``SIMULATOR``: the fake Plivo as ``python -m voicecall_cli.simulator plivo`` runs it.

Beyond the common options it takes ``--auth-id`` and ``--auth-token`` (default: fresh ones in
Plivo's shape, ``MA`` + 18 characters and 40 characters), ``--reply-delay``, ``--say-pace`` and
``--time-factor`` (scales the times the XML gives). It listens and reports ``authId`` /
``authToken`` as details and the daemon config ``{provider, plivo: {authId, authToken,
apiBaseUrl}}``, plus a scripted ``streaming`` block when ``--stream-audio`` makes the callee
speak on ``<Stream>`` sockets.

The simulator itself (trio, hypercorn, httpx, the plivo SDK) is imported only when it is
served.
"""

from __future__ import annotations

import argparse
import secrets
import string
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from voicecall_cli.simulator.base import SimulatorSpec, Started, scripted_streaming

_ALPHABET = string.ascii_uppercase + string.digits


def new_auth_id() -> str:
    """A main-account auth id as Plivo makes them: ``MA`` + 18 upper-case letters/digits."""
    return "MA" + "".join(secrets.choice(_ALPHABET) for _ in range(18))


def new_auth_token() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--auth-id", help="the account's auth id (default: a fresh MA... id)")
    parser.add_argument("--auth-token", help="the account's auth token (default: a fresh one)")
    parser.add_argument("--reply-delay", type=float, default=0.6,
                        help="seconds the callee waits before each reply")
    parser.add_argument("--say-pace", type=float, default=0.03,
                        help="seconds a <Speak> takes per character")
    parser.add_argument("--time-factor", type=float, default=1.0,
                        help="multiplies the times the XML gives (Wait, executionTimeout, ...)")


@asynccontextmanager
async def _serve(args: argparse.Namespace) -> AsyncIterator[Started]:
    from voicecall_cli.simulator.plivo.simulator import CalleeScript, run_plivo_simulator

    auth_id = args.auth_id or new_auth_id()
    auth_token = args.auth_token or new_auth_token()
    callee = CalleeScript(replies=args.reply or CalleeScript().replies,
                          reply_delay_s=args.reply_delay, say_seconds_per_char=args.say_pace,
                          stream_audio=args.stream_audio)
    async with run_plivo_simulator(auth_id=auth_id, auth_token=auth_token, port=args.port,
                                   callee=callee, time_factor=args.time_factor) as sim:
        config: dict[str, object] = {
            "provider": "plivo",
            "plivo": {"authId": auth_id, "authToken": auth_token, "apiBaseUrl": sim.base_url},
        }
        if args.stream_audio:
            config["streaming"] = scripted_streaming(callee.replies)
        yield Started(base_url=sim.base_url, config=config,
                      details={"authId": auth_id, "authToken": auth_token})


SIMULATOR = SimulatorSpec(
    name="plivo",
    display_name="Plivo",
    help="a fake Plivo Voice API and XML call runner",
    add_arguments=_add_arguments,
    serve=_serve,
)
