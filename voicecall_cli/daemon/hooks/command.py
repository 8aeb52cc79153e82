"""Running a command hook: the call's JSON on stdin, a timeout, and nothing left behind.

The command runs without a shell, in a new session (its own process group), with stdout
discarded and the last bytes of stderr kept for the error message. At the timeout, or when the
caller is cancelled (daemon shutdown), the whole process group is killed (SIGKILL) and reaped
before :func:`run_command` returns or re-raises: a hook that hangs, or one that started
children, holds nothing of the daemon's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

import trio

STDERR_TAIL = 2048  # bytes of stderr kept for the error message
STDERR_GRACE_S = 1.0  # after the command exits, how long its stderr may take to close
ERROR_MAX = 300


async def run_command(argv: Sequence[str], stdin: bytes, *, timeout_ms: int,
                      env: Mapping[str, str]) -> str | None:
    """Run ``argv`` with ``stdin``; None when it exits 0, else what went wrong (one line)."""
    try:
        proc = await trio.lowlevel.open_process(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True, env=dict(env))
    except OSError as exc:
        return f"cannot start {argv[0]!r}: {exc.strerror or type(exc).__name__}"
    tail = bytearray()
    killed = False
    try:
        with trio.move_on_after(timeout_ms / 1000):
            async with trio.open_nursery() as nursery:
                stderr_done = trio.Event()
                nursery.start_soon(_feed, proc.stdin, stdin)
                nursery.start_soon(_keep_tail, proc.stderr, tail, stderr_done)
                await proc.wait()
                with trio.move_on_after(STDERR_GRACE_S):
                    await stderr_done.wait()
                nursery.cancel_scope.cancel()
    finally:
        if proc.returncode is None:
            killed = True
            _kill_group(proc.pid)
            with trio.CancelScope(shield=True):
                await proc.wait()
        for stream in (proc.stdin, proc.stderr):
            if stream is not None:
                with trio.CancelScope(shield=True):
                    await stream.aclose()
    if killed:  # (only the timeout gets here: a cancellation re-raised above)
        return f"timed out after {timeout_ms} ms; killed"
    return _exit_error(proc.returncode, bytes(tail))


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # the command leads its own session (and group)


async def _feed(stream: trio.abc.SendStream | None, data: bytes) -> None:
    if stream is None:
        return
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.send_all(data)
        await stream.aclose()  # EOF: the command knows the document is complete


async def _keep_tail(stream: trio.abc.ReceiveStream | None, tail: bytearray,
                     done: trio.Event) -> None:
    try:
        if stream is None:
            return
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while chunk := await stream.receive_some(65536):
                tail += chunk
                del tail[:-STDERR_TAIL]
    finally:
        done.set()


def _exit_error(returncode: int, stderr: bytes) -> str | None:
    if returncode == 0:
        return None
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        error = f"killed by signal {name}"
    else:
        error = f"exit status {returncode}"
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    last = next((line for line in reversed(lines) if line), "")
    if last:
        error += f": {last}"
    return error[:ERROR_MAX]
