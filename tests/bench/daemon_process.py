"""A ``voicecall daemon run`` child process for the media benchmarks, started as
``../shared/bench/voicecall_media.py`` starts one: in its own session (process group), its
output in ``tmp/daemon.log``, no OpenAI or ElevenLabs key from the environment. Imported by
the bench scripts, which run as files. Whoever starts one stops it (:func:`stop`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def spawn_daemon(exe: str, config: str, tmp: Path) -> tuple[subprocess.Popen, str]:
    """Write ``config`` to ``tmp/config.toml``, start the daemon with the control socket
    ``tmp/ctl.sock``; returns it and its webhook URL (read from its log). Exits the bench if
    the daemon dies or does not listen within 30 s."""
    cfg = tmp / "config.toml"
    cfg.write_text(config)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp), XDG_STATE_HOME=str(tmp / "state"),
               NO_COLOR="1")
    env.pop("OPENAI_API_KEY", None)
    env.pop("ELEVENLABS_API_KEY", None)
    with (tmp / "daemon.log").open("ab") as log:
        proc = subprocess.Popen([exe, "--config", str(cfg), "--socket", str(tmp / "ctl.sock"),
                                 "daemon", "run"], stdout=log, stderr=log, env=env,
                                start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = (tmp / "daemon.log").read_text(errors="replace")
        for line in text.splitlines():
            if "listening on http://127.0.0.1:" in line:
                return proc, line.split("listening on ", 1)[1].split()[0]
        if proc.poll() is not None:
            sys.exit(f"daemon exited: {text[-800:]}")
        time.sleep(0.2)
    stop(proc)
    sys.exit("daemon did not report its webhook address in 30 s")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group, SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
