"""What the CLI does with an error nobody expected: one line for the user, details in a file.

Imported only when something has already gone wrong. The traceback is appended to
``cli-errors.log`` in the state directory (0600 in a 0700 directory), beside the daemon's
log, with the time and the command line, so a bug report can include it; the user sees
``voicecall: unexpected error: <type>: <message> (details in <path>)``. With
``VOICECALL_DEBUG=1`` the traceback is printed as Python would.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

from voicecall_cli.protocol import default_state_dir, open_private_append

DEBUG_ENV = "VOICECALL_DEBUG"
LOG_NAME = "cli-errors.log"


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def record(exc: BaseException) -> Path | None:
    """Append ``exc``'s traceback to the CLI error log; its path, or None if unwritable."""
    log = default_state_dir() / LOG_NAME
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    report = (f"--- {stamp} pid {os.getpid()}: {' '.join(sys.argv)}\n"
              + "".join(traceback.format_exception(exc)))
    try:
        with os.fdopen(open_private_append(log), "a", encoding="utf-8") as sink:
            sink.write(report)
    except OSError:
        return None
    return log


def one_line(exc: BaseException, log: Path | None) -> str:
    """``unexpected error: <type>: <first line of the message> (details in <log>)``."""
    text = str(exc).strip().splitlines()
    what = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    where = f" (details in {log})" if log is not None else ""
    return f"unexpected error: {what}{where}"
