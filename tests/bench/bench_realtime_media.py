"""Benchmark: concurrent realtime voice calls against cascaded ones, on one daemon process each.

For each N in -n (default 20 50 100) it runs, one after the other on the same machine:

* **cascaded**: a fresh ``voicecall daemon run`` in a temp dir configured exactly as
  ``../shared/bench/voicecall_media.py`` does (Twilio, public URL, open inbound policy, a long
  inbound greeting, streaming on with scripted STT and no TTS key, so the greeting is a tone
  as long as its words; ``maxInboundStreams`` above N);
* **realtime**: the same daemon config with streaming off and ``realtime.enabled`` pointed at
  the fake OpenAI Realtime voice server, run as a process of its own
  (``python -m tests.bench.realtime_fake_process``) so its CPU is measured apart (media_load's
  ``--aux-pidfile``). The greeting is said by the model: the fake answers it with
  ``d * 1000 + --margin-ms`` of tone, so the model speaks for the whole call.

Each is driven by ``../shared/bench/media_load.py`` (N signed inbound webhooks, N Twilio media
streams sending 20 ms silence frames for -d seconds, marks echoed on a playout clock,
underruns = gaps the caller would hear). Prints one JSON line per (mode, N) with the keys
``voicecall_media.py`` keeps, plus the fake's CPU/RSS (realtime), the load driver's CPU and
the count of warnings/errors in the daemon's log; then one line per N with the
realtime/cascaded ratios of underruns and server CPU. The claim it tests: realtime calls carry
as many concurrent streams as cascaded ones with no audible gap. Not a pass/fail test; the
machine is shared (2 cores for daemon, fake and load driver), so figures are noisy.

    .venv/bin/python tests/bench/bench_realtime_media.py -n 20 50 100 -d 10

media_load.py needs ``websockets`` (not a project dependency): --load-python names the
interpreter that runs it (default: /tmp/bench-venv/bin/python if present, else this one).

Resource handling: each daemon and each fake is a child process in its own session (process
group), killed with SIGTERM (then SIGKILL after 15 s) in ``finally`` blocks, daemon first;
media_load runs to completion under a timeout; the temp dirs are removed with their logs
(--keep-logs DIR copies each daemon's log there first).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from daemon_process import spawn_daemon, stop

REPO = Path(__file__).resolve().parents[2]
TOKEN = "bench_auth_token_0123456789abcdef"  # voicecall_media.py's
PUBLIC = "https://voice.example.test/voice/webhook"
GREETING = "This is a long greeting that keeps the daemon speaking for the whole call. " * 40
KEY = "sk-bench-realtime-0123456789"
RAMP_S = 0.05  # media_load's default gap between call starts
KEEP = ("n", "calls_with_server_media", "p99_dev_ms", "max_dev_ms", "steady_p99_dev_ms",
        "drift_ms_max_abs", "underruns", "underrun_ms_total", "underrun_max_ms",
        "underruns_per_audio_min", "errors", "server_cpu_pct", "server_rss_mb_peak")
EXTRA = ("aux_cpu_pct", "aux_rss_mb_peak", "client_cpu_pct", "audio_s", "first_errors")


def config_text(tmp: Path, n: int, realtime_url: str | None, greeting: str = GREETING) -> str:
    """voicecall_media.py's config; with ``realtime_url``, streaming off and realtime on."""
    text = (
        f'provider = "twilio"\nfromNumber = "+15550001234"\nstore = "{tmp / "store"}"\n'
        f'controlSocket = "{tmp / "ctl.sock"}"\ninboundPolicy = "open"\npublicUrl = "{PUBLIC}"\n'
        f'inboundGreeting = "{greeting}"\n'
        f'[twilio]\naccountSid = "AC00000000000000000000000000000000"\nauthToken = "{TOKEN}"\n')
    if realtime_url is None:
        text += ('[streaming]\nenabled = true\nsttProvider = "scripted"\n'
                 f'maxInboundStreams = {n + 5}\n')
    else:
        text += f'[streaming]\nenabled = false\nmaxInboundStreams = {n + 5}\n'
    text += (f'maxConnections = {n + 50}\n[serve]\nport = 0\nbind = "127.0.0.1"\n'
             'path = "/voice/webhook"\n')
    if realtime_url is not None:
        text += f'[realtime]\nenabled = true\napiKey = "{KEY}"\nbaseUrl = "{realtime_url}"\n'
    return text


def start_fake(tmp: Path, reply_ms: int, delta_interval_s: float) -> tuple[subprocess.Popen,
                                                                          str]:
    """The fake Realtime server process (own session); its base URL once it listens."""
    port_file = tmp / "fake.url"
    with (tmp / "fake.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.realtime_fake_process", "--port-file",
             str(port_file), "--reply-ms", str(reply_ms), "--delta-interval-s",
             str(delta_interval_s), "--api-key", KEY], cwd=REPO, stdout=log, stderr=log,
            start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if port_file.exists():
            return proc, port_file.read_text().strip()
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    stop(proc)
    sys.exit("the fake realtime server did not start: "
             + (tmp / "fake.log").read_text(errors="replace")[-800:])


EXPECTED = ("placeholder tone",  # no TTS key: the cascaded greeting is a tone, by design
            "Media stream stopped before playback finished",  # calls end mid-greeting
            # media_load sends no status callback: 2 s after its stream stops, the daemon
            # hangs the call up through Twilio's REST API, which this config leaves unset
            "hang-up after stream loss failed")


def log_problems(log: Path) -> tuple[int, int, list[str]]:
    """Warnings/errors in the daemon's log: all, those not in EXPECTED, the first of those."""
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if " WARNING " in line or " ERROR " in line or "Traceback" in line]
    odd = [line for line in lines if not any(text in line for text in EXPECTED)]
    return len(lines), len(odd), [line[:200] for line in odd[:3]]


def measure(args: argparse.Namespace, mode: str, n: int) -> dict[str, Any]:
    """One fresh daemon (and, for realtime, one fresh fake) driven by media_load for -d s."""
    with tempfile.TemporaryDirectory(prefix=f"vc-rtmedia-{mode}-") as t:
        tmp = Path(t)
        fake = None
        try:
            url = None
            if mode == "realtime":
                fake, url = start_fake(tmp, int(args.d * 1000 + args.margin_ms),
                                       args.delta_interval_s)
                (tmp / "fake.pid").write_text(str(fake.pid))
            greeting = GREETING.rstrip() if args.rstrip_greeting else GREETING
            proc, webhook = spawn_daemon(args.voicecall, config_text(tmp, n, url, greeting), tmp)
            try:
                (tmp / "daemon.pid").write_text(str(proc.pid))
                command = [args.load_python, str(args.shared_bench / "media_load.py"), "--url",
                           webhook, "--public-url", PUBLIC, "--auth-token", TOKEN, "-n", str(n),
                           "-d", str(args.d), "--server-pidfile", str(tmp / "daemon.pid"),
                           "--label", f"voicecall-{mode}-n{n}", "--per-call"]
                if fake is not None:
                    command += ["--aux-pidfile", str(tmp / "fake.pid")]
                run = subprocess.run(command, capture_output=True, text=True,
                                     cwd=args.shared_bench, timeout=args.d * 4 + 180)
            finally:
                stop(proc)
        finally:
            if fake is not None:
                stop(fake)
        count, odd, first = log_problems(tmp / "daemon.log")
        if args.keep_logs:
            shutil.copy(tmp / "daemon.log", Path(args.keep_logs) / f"daemon-{mode}-n{n}.log")
        try:
            result = json.loads(run.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            return {"mode": mode, "n": n, "error": run.stderr[-600:]}
    result["n"] = n
    line = {"mode": mode, **{k: result.get(k) for k in KEEP},
            **{k: result[k] for k in EXTRA if k in result},
            "first_audio_after_start_s": first_audio(result.get("per_call") or []),
            # more than -d: the daemon kept playing after the caller's stop frame
            "audio_s_per_call_max": max((c["audio_s"] for c in result.get("per_call") or []),
                                        default=None),
            "daemon_log_warnings": count, "daemon_log_unexpected": odd,
            "daemon_log_first_unexpected": first}
    return line


def first_audio(per_call: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds from each call's scheduled start (its webhook may queue behind others: media_load
    sets up 2 calls at a time) to its first audible frame, the greeting's."""
    values = sorted(c["first_audio_s"] - c["call"] * RAMP_S for c in per_call
                    if c.get("first_audio_s") is not None)
    if not values:
        return {"calls": 0}
    return {"calls": len(values), "p50_s": round(values[len(values) // 2], 3),
            "max_s": round(values[-1], 3)}


def ratio(a: Any, b: Any) -> float | str | None:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return None
    if b == 0:
        return 1.0 if a == 0 else "inf"
    return round(a / b, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voicecall", default=str(REPO / ".venv/bin/voicecall"))
    ap.add_argument("--shared-bench", default=str(REPO.parent / "shared" / "bench"))
    default_load = Path("/tmp/bench-venv/bin/python")
    ap.add_argument("--load-python", default=str(default_load) if default_load.exists()
                    else sys.executable, help="an interpreter with websockets and twilio")
    ap.add_argument("-n", type=int, nargs="+", default=[20, 50, 100])
    ap.add_argument("-d", type=float, default=20.0, help="seconds each call streams")
    ap.add_argument("--margin-ms", type=int, default=5000,
                    help="the model's greeting lasts d * 1000 + this")
    ap.add_argument("--delta-interval-s", type=float, default=0.02,
                    help="the fake's pace: 100 ms of audio every this many seconds")
    ap.add_argument("--modes", nargs="+", default=["cascaded", "realtime"],
                    choices=["cascaded", "realtime"])
    ap.add_argument("--rstrip-greeting", action="store_true",
                    help="drop the greeting's trailing space (voicecall_media.py's has one)")
    ap.add_argument("--keep-logs", help="copy each daemon's log into this directory")
    args = ap.parse_args()
    args.voicecall = str(Path(args.voicecall).resolve())
    args.shared_bench = Path(args.shared_bench).resolve()
    for n in args.n:
        lines = {}
        for mode in args.modes:
            lines[mode] = measure(args, mode, n)
            print(json.dumps(lines[mode]), flush=True)
        if len(lines) == 2:
            rt, cas = lines["realtime"], lines["cascaded"]
            print(json.dumps({
                "ratio": "realtime/cascaded", "n": n,
                "underruns": ratio(rt.get("underruns"), cas.get("underruns")),
                "underrun_ms_total": ratio(rt.get("underrun_ms_total"),
                                           cas.get("underrun_ms_total")),
                "server_cpu": ratio(rt.get("server_cpu_pct"), cas.get("server_cpu_pct")),
                "server_plus_fake_cpu": ratio(
                    (rt.get("server_cpu_pct") or 0) + (rt.get("aux_cpu_pct") or 0),
                    cas.get("server_cpu_pct")),
                "no_audible_gap": rt.get("underruns") == 0
                and rt.get("calls_with_server_media") == n}), flush=True)


if __name__ == "__main__":
    main()
