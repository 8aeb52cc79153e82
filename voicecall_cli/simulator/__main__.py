"""``python -m voicecall_cli.simulator twilio [--port N] [--reply TEXT]...``: a fake Twilio.

Serves Twilio's REST API on 127.0.0.1, prints one JSON line ``{"baseUrl", "accountSid",
"authToken", "pid"}`` on stdout once it listens, and runs until stdin closes or SIGTERM/SIGINT.
``voicecall demo --carrier twilio`` runs it as a child process; so can a developer, pointing
``twilio.apiBaseUrl`` at it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys

import trio

from voicecall_cli.simulator.twilio.simulator import CalleeScript, run_twilio_simulator


async def _until_stdin_closes() -> None:
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with stdin:
        while await stdin.receive_some(4096):
            pass


async def _until_signalled() -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
        async for _ in received:
            return


async def serve(args: argparse.Namespace) -> None:
    account_sid = "AC" + secrets.token_hex(16)
    auth_token = secrets.token_hex(16)
    callee = CalleeScript(replies=args.reply or CalleeScript().replies,
                          reply_delay_s=args.reply_delay, say_seconds_per_char=args.say_pace,
                          stream_audio=args.stream_audio)
    async with run_twilio_simulator(account_sid=account_sid, auth_token=auth_token,
                                    port=args.port, callee=callee) as sim:
        print(json.dumps({"baseUrl": sim.base_url, "accountSid": account_sid,
                          "authToken": auth_token, "pid": os.getpid()}), flush=True)
        async with trio.open_nursery() as nursery:
            async def stop_after(waiter) -> None:
                await waiter()
                nursery.cancel_scope.cancel()
            nursery.start_soon(stop_after, _until_signalled)
            if args.stdin:
                nursery.start_soon(stop_after, _until_stdin_closes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voicecall_cli.simulator")
    sub = parser.add_subparsers(dest="carrier", required=True)
    twilio = sub.add_parser("twilio", help="a fake Twilio REST API and call runner")
    twilio.add_argument("--port", type=int, default=0)
    twilio.add_argument("--reply", action="append", help="what the callee says, in turn")
    twilio.add_argument("--reply-delay", type=float, default=0.6)
    twilio.add_argument("--say-pace", type=float, default=0.03,
                        help="seconds a <Say> takes per character")
    twilio.add_argument("--stream-audio", action="store_true",
                        help="be the caller on <Connect><Stream> media streams")
    twilio.add_argument("--stdin", action="store_true", help="stop when stdin closes")
    trio.run(serve, parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
