"""Benchmark: Twilio-signed webhooks, a real ``voicecall daemon run`` beside the reference.

One load driver for both (../shared/bench/webhook_load.py), in one session, back to back,
repeated: the reference gateway (OpenClaw voice-call, built by ../shared/bench/setup-openclaw.sh
into --anchor-dir and driven as run-anchor.sh drives it: fresh store, a warm-up, port 3334) and
this checkout's daemon (Twilio provider, publicUrl set so signatures verify, its own store and
control socket). Each repeat runs the reference, then voicecall, with the same signed status
callbacks (-n of them, -c connections spread over --sources addresses, as the reference caps
requests in flight per address at 8). One more voicecall run puts all connections on one
address: legitimate load must never be answered 429. Prints one JSON object: every run, the
medians, and voicecall's ratios to the reference (req/s, server CPU per request). Not a
pass/fail test; the machine's other load moves absolute figures, so read the ratios, and CPU
per request is the steadier one.

    .venv/bin/python tests/bench/bench_webhooks_vs_reference.py --repeats 3

Needs the bench venv (../shared/bench/requirements.txt; default /tmp/bench-venv) and the
reference in --anchor-dir. Stops both servers (their process groups only) when done. Loopback
only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twilio_bench_daemon import AUTH_TOKEN, PUBLIC_URL, free_port, twilio_config

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT.parent / "shared" / "bench"
ANCHOR_PORT = 3334  # setup-openclaw.sh's serve.port


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"voicecall daemon exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def anchor_ctl(command: str, anchor_dir: Path) -> None:
    subprocess.run([str(BENCH / "openclaw-ctl.sh"), command, str(anchor_dir)], check=True,
                   stdout=subprocess.DEVNULL, timeout=240)


def drive(python: str, port: int, pidfile: Path | None, args: argparse.Namespace, *,
          n: int, sources: int, label: str) -> dict:
    argv = [python, str(BENCH / "webhook_load.py"), "--url",
            f"http://127.0.0.1:{port}/voice/webhook", "--public-url", PUBLIC_URL,
            "--auth-token", AUTH_TOKEN, "-n", str(n), "-c", str(args.c), "--kind", args.kind,
            "--label", label]
    if sources > 1:
        argv += ["--sources", str(sources)]
    if pidfile is not None:
        argv += ["--server-pidfile", str(pidfile)]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=BENCH, timeout=900)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(runs: list[dict]) -> dict:
    return {"req_per_s": statistics.median(r["req_per_s"] for r in runs),
            "server_cpu_us_per_req": statistics.median(r["server_cpu_us_per_req"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "non_2xx": sum(r["errors"] for r in runs),
            "429": sum(r["codes"].get("429", 0) for r in runs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anchor-dir", type=Path, default=Path("/tmp/oc-anchor"))
    ap.add_argument("--python", default="/tmp/bench-venv/bin/python",
                    help="the bench venv's python (runs the load driver)")
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("-c", type=int, default=16)
    ap.add_argument("--sources", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--kind", choices=["status", "ringing"], default="status")
    args = ap.parse_args()
    if not (BENCH / "webhook_load.py").exists():
        raise SystemExit(f"the shared load driver is missing: {BENCH}")
    if not (args.anchor_dir / "env.sh").exists():
        raise SystemExit(f"no reference in {args.anchor_dir}: run setup-openclaw.sh first")
    root = Path(tempfile.mkdtemp(prefix="vcvsref", dir="/tmp"))
    port = free_port()
    (root / "config.toml").write_text(twilio_config(
        store=root / "state", port=port, control_socket=root / "control.sock"))
    pidfile = root / "voicecall.pid"
    anchor_pid = args.anchor_dir / "gateway.pid"
    proc: subprocess.Popen | None = None
    runs: dict[str, list[dict]] = {"reference": [], "voicecall": []}
    try:
        # The reference fresh, as run-anchor.sh does: an empty call store and replay cache.
        anchor_ctl("stop", args.anchor_dir)
        shutil.rmtree(args.anchor_dir / "home" / ".openclaw" / "voice-calls", ignore_errors=True)
        anchor_ctl("start", args.anchor_dir)
        with (root / "daemon.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "voicecall_cli", "--config", str(root / "config.toml"),
                 "daemon", "run"], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=ROOT)
        pidfile.write_text(str(proc.pid))
        wait_port(port, proc)
        drive(args.python, ANCHOR_PORT, None, args, n=1000, sources=args.sources,
              label="reference warm-up")
        drive(args.python, port, None, args, n=500, sources=args.sources,
              label="voicecall warm-up")
        for i in range(args.repeats):
            runs["reference"].append(drive(args.python, ANCHOR_PORT, anchor_pid, args,
                                           n=args.n, sources=args.sources,
                                           label=f"reference run {i + 1}"))
            runs["voicecall"].append(drive(args.python, port, pidfile, args, n=args.n,
                                           sources=args.sources,
                                           label=f"voicecall run {i + 1}"))
        one_address = drive(args.python, port, pidfile, args, n=args.n, sources=1,
                            label=f"voicecall, {args.c} connections from one address")
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        anchor_ctl("stop", args.anchor_dir)
        shutil.rmtree(root, ignore_errors=True)
    ref, ours = summary(runs["reference"]), summary(runs["voicecall"])
    pairs = list(zip(runs["reference"], runs["voicecall"], strict=True))
    print(json.dumps({
        "benchmark": "twilio_signed_webhooks_vs_reference", "kind": args.kind, "n": args.n,
        "c": args.c, "sources": args.sources, "repeats": args.repeats,
        "reference": ref, "voicecall": ours,
        "voicecall_one_address": {k: one_address[k] for k in (
            "req_per_s", "server_cpu_us_per_req", "p99_ms", "codes")},
        "ratios": {
            "req_per_s": round(ours["req_per_s"] / ref["req_per_s"], 2),
            "server_cpu_us_per_req": round(
                ours["server_cpu_us_per_req"] / ref["server_cpu_us_per_req"], 2),
            "per_repeat_req_per_s": [round(v["req_per_s"] / r["req_per_s"], 2)
                                     for r, v in pairs],
            "per_repeat_cpu_us_per_req": [
                round(v["server_cpu_us_per_req"] / r["server_cpu_us_per_req"], 2)
                for r, v in pairs]},
        "runs": runs, "one_address_run": one_address}, indent=2))


if __name__ == "__main__":
    main()
