"""Benchmark: Twilio-signed webhook throughput and latency of the voicecall daemon.

Runs, in one go and with one load driver (../shared/bench/webhook_load.py, the harness the
reference plugin is measured with): the voicecall daemon (Twilio provider, publicUrl set so
signatures verify) and the stack's ceilings (baseline_server.py: quart-trio, and --bare: a plain
ASGI callable on hypercorn), each at concurrency 1 and 16 with distinct signed status callbacks.
Prints one JSON object: req/s, p50/p99 latency, status codes, server CPU per request, and our
throughput as a ratio of each ceiling measured in the same run. Not a pass/fail test.

    .venv/bin/python tests/bench/bench_webhooks.py -n 2000

Connections are spread over 2 source addresses (--sources 2) because the webhook server caps
in-flight requests per IP at 8, as the reference does. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twilio_bench_daemon import AUTH_TOKEN, PUBLIC_URL, free_port, twilio_config

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT.parent / "shared" / "bench"


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def start(argv: list[str], root: Path, name: str) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ,
                                                         "VOICECALL_LOG_LEVEL": "WARNING"})
    pidfile = root / f"{name}.pid"
    pidfile.write_text(str(proc.pid))
    return proc, pidfile


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def drive(port: int, pidfile: Path, n: int, c: int, label: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(BENCH / "webhook_load.py"), "--url",
         f"http://127.0.0.1:{port}/voice/webhook", "--public-url", PUBLIC_URL,
         "--auth-token", AUTH_TOKEN, "-n", str(n), "-c", str(c), "--kind", "status",
         "--sources", "2", "--server-pidfile", str(pidfile), "--label", label],
        capture_output=True, text=True, cwd=BENCH, timeout=600)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=2000)
    args = ap.parse_args()
    if not (BENCH / "webhook_load.py").exists():
        raise SystemExit(f"the shared load driver is missing: {BENCH}")
    root = Path(tempfile.mkdtemp(prefix="vcwh", dir="/tmp"))
    results: dict[str, dict] = {}
    try:
        targets = {
            "voicecall": lambda port: [sys.executable, "-m", "voicecall_cli.daemon", "run",
                                       "--config", str(root / "config.toml"), "--socket",
                                       str(root / "control.sock")],
            "ceiling_quart_trio": lambda port: [sys.executable, str(BENCH / "baseline_server.py"),
                                                "--bind", f"127.0.0.1:{port}"],
            "ceiling_bare_asgi": lambda port: [sys.executable, str(BENCH / "baseline_server.py"),
                                               "--bind", f"127.0.0.1:{port}", "--bare"],
        }
        for name, argv in targets.items():
            port = free_port()
            (root / "config.toml").write_text(twilio_config(store=root / f"state-{port}",
                                                            port=port))
            proc, pidfile = start(argv(port), root, name)
            try:
                wait_port(port)
                for c in (1, 16):
                    run = drive(port, pidfile, args.n, c, f"{name} c={c}")
                    results[f"{name}_c{c}"] = run
            finally:
                stop(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def rps(key: str) -> float:
        return float(results[key].get("req_per_s") or results[key].get("rps") or 0)

    summary = {"benchmark": "twilio_signed_webhooks", "requests": args.n, "results": results,
               "ratios": {f"voicecall_vs_{ceiling}_c{c}": round(
                   rps(f"voicecall_c{c}") / rps(f"{ceiling}_c{c}"), 2)
                   for ceiling in ("ceiling_quart_trio", "ceiling_bare_asgi") for c in (1, 16)
                   if rps(f"{ceiling}_c{c}")}}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
