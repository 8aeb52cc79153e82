"""A stand-in ``voicecall`` for completion tests: the real root options, one probe command.

``python -m tests.cli.completion_probe`` behaves like ``voicecall`` for click's completion
protocol (``_VOICECALL_COMPLETE``): the root group has the real ``--socket``/``--config``
options and ``probe`` takes ``--call-id`` (:func:`call_id_option`) and a positional CALL_ID
completed by :func:`complete_call_ids`, so the completion code is exercised exactly as a
command that uses it would, whatever the real commands are wired to today.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from voicecall_cli.cli.call_ids import call_id_option, complete_call_ids
from voicecall_cli.cli.main import COMPLETE_VAR, PROG_NAME, cli

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROBE = "tests.cli.completion_probe"

root = click.Group(PROG_NAME, params=cli.params, callback=cli.callback)


@root.command("probe")
@click.argument("call_id_argument", metavar="[CALL_ID]", required=False,
                shell_complete=complete_call_ids)
@call_id_option(help="The call.")
def probe(call_id_argument: str | None, call_id: str | None) -> None:
    """Does nothing: it exists to be completed."""


def complete(shell: str, words: list[str], *, module: str = PROBE,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """What ``shell``'s generated script asks when the cursor is after ``words`` (the last one
    is the word being completed, "" for a new word)."""
    line = " ".join(["voicecall", *words])
    if shell == "fish":  # fish passes the whole line and the current token
        comp = {"COMP_WORDS": line, "COMP_CWORD": words[-1]}
    else:
        comp = {"COMP_WORDS": line, "COMP_CWORD": str(len(words))}
    return subprocess.run([sys.executable, "-m", module], capture_output=True, text=True,
                          timeout=30, cwd=PROJECT_ROOT,
                          env={**os.environ, **(env or {}),
                               "_VOICECALL_COMPLETE": f"{shell}_complete", **comp})


def bash_values(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The values of a successful, silent bash completion."""
    assert proc.returncode == 0 and proc.stderr == "", (proc.returncode, proc.stderr)
    return [line.split(",", 1)[1] for line in proc.stdout.splitlines() if line]


def uses_call_id_completion(name: str) -> bool:
    """Whether the real ``voicecall NAME`` builds its ``--call-id`` with call_id_option."""
    command = cli.get_command(click.Context(cli), name)
    if command is None:
        return False
    option = next((p for p in command.params if p.name == "call_id"), None)
    return getattr(option, "_custom_shell_complete", None) is complete_call_ids


if __name__ == "__main__":
    root.main(prog_name=PROG_NAME, complete_var=COMPLETE_VAR)
