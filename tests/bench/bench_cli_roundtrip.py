"""Benchmark: ``voicecall status --json`` round trips against a running daemon.

Starts a private daemon (mock carrier, port 0, temporary socket), runs the command N times
(default 50) and bare ``python -c pass`` N times in the same run, interleaved so both see the
same machine load, and prints one JSON object: median, p95, min and max in ms for each, and
the ratio of the medians. Not a pass/fail test.

    .venv/bin/python tests/bench/bench_cli_roundtrip.py -n 50
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CONFIG = """provider = "mock"
store = "{store}"
[serve]
bind = "127.0.0.1"
port = 0
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(times: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(times), 2),
            "p95_ms": round(percentile(times, 95), 2),
            "min_ms": round(min(times), 2), "max_ms": round(max(times), 2)}


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=env, timeout=60)
    return (time.perf_counter() - start) * 1000, proc.returncode


@contextmanager
def private_daemon() -> Iterator[tuple[list[str], dict[str, str], Path]]:
    """A ``voicecall daemon run`` (mock carrier, port 0) on a temporary socket, answering
    ``status``: yields the voicecall command, the environment naming its socket, and the
    socket; stopped and removed on exit."""
    root = Path(tempfile.mkdtemp(prefix="vcbench", dir="/tmp"))
    sock = root / "control.sock"
    (root / "config.toml").write_text(CONFIG.format(store=root / "state"))
    script = Path(sys.executable).with_name("voicecall")
    voicecall = [str(script)] if script.exists() else [sys.executable, "-m", "voicecall_cli"]
    env = {**os.environ, "VOICECALL_SOCKET": str(sock)}
    daemon = subprocess.Popen([*voicecall, "--config", str(root / "config.toml"), "daemon",
                               "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=env)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([*voicecall, "status", "--json"], capture_output=True,
                             env=env).returncode != 0:
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise SystemExit("daemon did not start")
            time.sleep(0.1)
        yield voicecall, env, sock
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=15)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=50)
    args = ap.parse_args()
    with private_daemon() as (voicecall, env, _sock):
        status_cmd = [*voicecall, "status", "--json"]
        bare_cmd = [sys.executable, "-c", "pass"]
        timed(status_cmd, env)  # warm the page cache
        ours, bare, codes = [], [], set()
        for _ in range(args.n):
            elapsed, code = timed(status_cmd, env)
            ours.append(elapsed)
            codes.add(code)
            bare.append(timed(bare_cmd, env)[0])
        result = {
            "benchmark": "cli_status_roundtrip",
            "runs": args.n,
            "command": " ".join(Path(c).name if i == 0 else c
                                for i, c in enumerate(status_cmd)),
            "voicecall_status_json": summary(ours),
            "python_c_pass": summary(bare),
            "ratio_median_to_bare_python": round(statistics.median(ours)
                                                 / statistics.median(bare), 2),
            "exit_codes": sorted(codes),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(result, indent=2))

if __name__ == "__main__":
    main()
