"""Running a tunnel's command-line tool (``tailscale``, ``ngrok``) with a deadline.

:func:`find_executable` says where a tool is (or raises :class:`TunnelError` saying how to get
it); :func:`run_command` runs one short command to completion and returns its exit code and
output, killing it when the deadline passes. Long-running agents (``ngrok http``) are started
by their tunnel with ``trio.lowlevel.open_process`` instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

import trio

from voicecall_cli.daemon.tunnels.base import TunnelError

OUTPUT_LIMIT = 400  # characters of a tool's output quoted in an error


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str

    def output(self) -> str:
        """stderr, else stdout, stripped and cut to :data:`OUTPUT_LIMIT` characters."""
        text = (self.stderr.strip() or self.stdout.strip())
        return text if len(text) <= OUTPUT_LIMIT else text[:OUTPUT_LIMIT] + "..."


def find_executable(name: str, install_hint: str) -> str:
    """The path of ``name`` on ``PATH``, or :class:`TunnelError` ``"<name> is not installed
    (no `<name>` on PATH); <install_hint>"``."""
    path = shutil.which(name)
    if path is None:
        raise TunnelError(f"{name} is not installed (no `{name}` on PATH); {install_hint}")
    return path


async def run_command(argv: list[str], *, timeout_s: float,
                      env: dict[str, str] | None = None) -> CommandResult:
    """Run ``argv`` to completion within ``timeout_s`` seconds.

    Raises :class:`TunnelError` when it cannot be started or does not finish in time (it is
    killed; the message names the command's first two words, never its arguments, which may
    hold a secret). Cancellation kills it too.
    """
    label = " ".join(os.path.basename(part) if i == 0 else part
                     for i, part in enumerate(argv[:2]))
    try:
        with trio.fail_after(timeout_s):
            completed = await trio.run_process(
                argv, capture_stdout=True, capture_stderr=True, check=False,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env} if env else None)
    except trio.TooSlowError:
        raise TunnelError(f"`{label}` did not finish within {timeout_s:g} s") from None
    except OSError as exc:
        raise TunnelError(f"could not run `{label}`: {exc.strerror or exc}") from None
    return CommandResult(completed.returncode,
                         completed.stdout.decode("utf-8", "replace"),
                         completed.stderr.decode("utf-8", "replace"))
