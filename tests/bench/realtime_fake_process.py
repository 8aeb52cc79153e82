"""The fake OpenAI Realtime voice server (``tests/speech/fakes/realtime_voice_server.py``) as
a process of its own, so a benchmark can measure its CPU apart from the daemon's and the load
driver's (``media_load.py --aux-pidfile``).

    .venv/bin/python -m tests.bench.realtime_fake_process --port-file F [--reply-ms MS] \
        [--delta-interval-s S] [--api-key KEY]

It serves on 127.0.0.1 (port 0) and writes its base URL (``ws://127.0.0.1:PORT/v1/realtime``)
to --port-file once listening. Every session it accepts answers each ``response.create`` with
--reply-ms of tone (100 ms deltas, --delta-interval-s apart); its energy VAD hears nothing in
silence, so a call that only sends silence gets exactly its greeting. It keeps no per-session
figures beyond what the fake records anyway, and runs until SIGTERM or SIGINT.

Resource handling: the listener and every connection belong to the fake's ``async with``;
a signal cancels it, which closes them all. Whoever starts the process (in its own process
group, to be measured) kills it.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.speech.fakes.realtime_voice_server import open_realtime_voice_server  # noqa: E402

DEFAULT_KEY = "sk-bench-realtime-0123456789"


async def serve(args: argparse.Namespace) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with open_realtime_voice_server(args.api_key) as fake:
            fake.reply_ms, fake.delta_ms = args.reply_ms, 100
            fake.delta_interval_s = args.delta_interval_s
            tmp = Path(args.port_file + ".tmp")
            tmp.write_text(fake.base_url)
            tmp.replace(args.port_file)  # readers never see a partial URL
            async for _ in signals:
                break


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port-file", required=True, help="where to write the base ws:// URL")
    ap.add_argument("--reply-ms", type=int, default=600, help="audio of every response")
    ap.add_argument("--delta-interval-s", type=float, default=0.02,
                    help="between two 100 ms audio deltas (0.02: five times real time)")
    ap.add_argument("--api-key", default=DEFAULT_KEY)
    trio.run(serve, ap.parse_args())


if __name__ == "__main__":
    main()
