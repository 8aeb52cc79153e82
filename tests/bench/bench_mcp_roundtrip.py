"""Benchmark: what an agent waits for through ``voicecall mcp`` against a running daemon.

Starts a private daemon (mock carrier, port 0, temporary socket) and ``voicecall mcp`` as an
MCP client runs it (a stdio subprocess, driven by the SDK's own ``Client``), then measures in
the same run: the server's start-up until the session is ready, N (default 200) ``voice_call``
tool calls of ``get_status`` and of ``list_calls``, and the control request underneath them
(``voicecall.status`` through the stdlib client, no MCP) N times, so the ratio says what MCP
and the SDK add. Prints one JSON object. Not a pass/fail test; needs the ``voicecall[mcp]``
extra.

    .venv/bin/python tests/bench/bench_mcp_roundtrip.py -n 200
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import trio
from bench_cli_roundtrip import private_daemon, summary
from mcp import Client, StdioServerParameters

from voicecall_cli.client.control import ControlClient


async def measure(voicecall: list[str], env: dict[str, str], sock: Path, n: int
                  ) -> dict[str, object]:
    params = StdioServerParameters(command=voicecall[0], args=[*voicecall[1:], "mcp"], env=env)
    started = time.perf_counter()
    async with Client(params) as client:
        ready_ms = (time.perf_counter() - started) * 1000
        result: dict[str, object] = {"mcp_startup_ms": round(ready_ms, 1)}
        for action, args in (("get_status", {"callId": "no-such-call"}), ("list_calls", {})):
            times = []
            for _ in range(n):
                start = time.perf_counter()
                answer = await client.call_tool("voice_call", {"action": action, **args})
                times.append((time.perf_counter() - start) * 1000)
                assert not answer.is_error, answer.content
            result[f"tool_{action}"] = summary(times)
    control = ControlClient(sock)
    direct = []
    for _ in range(n):
        start = time.perf_counter()
        control.call("voicecall.status", {"callId": "no-such-call"})
        direct.append((time.perf_counter() - start) * 1000)
    result["control_status_direct"] = summary(direct)
    result["ratio_tool_get_status_to_direct"] = round(
        result["tool_get_status"]["median_ms"] / statistics.median(direct), 2)  # type: ignore
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=200)
    args = ap.parse_args()
    with private_daemon() as (voicecall, env, sock):
        result = {"benchmark": "mcp_roundtrip", "runs": args.n,
                  **trio.run(measure, voicecall, env, sock, args.n), "cpus": os.cpu_count()}
        print(json.dumps(result, indent=2))

if __name__ == "__main__":
    main()
