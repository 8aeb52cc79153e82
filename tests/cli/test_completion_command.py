"""``voicecall completion SHELL`` prints exactly what ``completions/`` holds for that shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Env, run_cli
from voicecall_cli.cli import docgen

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
async def test_prints_what_docgen_writes(env: Env, shell: str) -> None:
    result = await run_cli("completion", shell)
    assert result.exit_code == 0, result.output
    file_name = docgen.COMPLETION_SHELLS[shell][0]
    assert result.stdout == docgen.generate()[f"completions/{file_name}"]
    assert result.stdout == (PROJECT_ROOT / "completions" / file_name).read_text()
    assert result.stderr == ""


async def test_json_carries_the_same_script(env: Env) -> None:
    result = await run_cli("completion", "zsh", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"shell": "zsh", "file": "_voicecall",
                                         "script": docgen.generate()["completions/_voicecall"]}


def test_the_installed_script_works_after_install() -> None:
    # The console script's own output, in a fresh interpreter, as after a wheel install.
    proc = subprocess.run([sys.executable, "-m", "voicecall_cli", "completion", "bash"],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "_VOICECALL_COMPLETE=bash_complete" in proc.stdout
    assert "complete -o nosort -F _voicecall_completion voicecall" in proc.stdout


async def test_help_says_where_to_install_it(env: Env) -> None:
    result = await run_cli("completion", "--help")
    assert result.exit_code == 0
    for where in ("~/.local/share/bash-completion/completions/voicecall", "fpath=",
                  "~/.config/fish/completions/voicecall.fish"):
        assert where in result.stdout


async def test_an_unknown_shell_is_a_usage_error(env: Env) -> None:
    result = await run_cli("completion", "tcsh")
    assert result.exit_code == 2
    assert result.stdout == "" and "tcsh" in result.stderr


def test_the_man_page_keeps_the_install_lines_unfilled() -> None:
    page = docgen.man_page()
    section = page.split('.SS "voicecall completion', 1)[1].split(".SS", 1)[0]
    assert ".nf\n" in section and "\n.fi" in section
    assert "\b" not in page
