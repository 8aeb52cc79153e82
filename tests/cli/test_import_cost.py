"""The hot path stays light: ``voicecall status --json`` imports click, the stdlib, the
protocol and the control client, never rich, the MCP SDK, the domain core, the daemon or its
frameworks (shell loops run it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import Env
from tests.cli.fake_daemon import FakeDaemon

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("rich", "voicecall_cli.core", "voicecall_cli.daemon", "voicecall_cli.providers",
             "voicecall_cli.speech", "voicecall_cli.simulator", "trio", "httpx", "quart",
             "quart_trio", "hypercorn", "h11", "openai", "json5",
             # the MCP server's side of the shared client: its SDK, and the typed views
             # (building their classes costs ~10 ms) that only the MCP server needs
             "voicecall_cli.mcp", "mcp", "pydantic", "anyio", "voicecall_cli.client.calls",
             "voicecall_cli.protocol.views")


def imported_modules(env: Env, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "voicecall_cli", "--socket", str(env.socket),
         *args], capture_output=True, text=True, timeout=30, cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    modules = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:")}
    return proc, modules


def offenders(modules: set[str]) -> list[str]:
    return sorted(m for m in modules
                  if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))


def test_status_json_imports_no_heavy_module(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"calls": []})
    proc, modules = imported_modules(env, "status", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == {"calls": []}
    assert "click" in modules and "voicecall_cli.protocol" in modules
    assert offenders(modules) == []


def test_errors_stay_light_too(env: Env) -> None:
    proc, modules = imported_modules(env, "status", "--json")  # no daemon: exit 7
    assert proc.returncode == 7
    assert offenders(modules) == []


def test_rich_is_loaded_only_to_render_for_a_human(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"calls": []})
    proc, modules = imported_modules(env, "status")
    assert proc.returncode == 0
    assert "rich" in modules  # the check above would see it
