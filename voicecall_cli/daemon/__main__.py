"""``python -m voicecall_cli.daemon run [--config PATH] [--socket PATH]``: the daemon process.

``voicecall daemon run`` execs this (same PID, so systemd's Type=notify works). Exit codes:
0 after a clean stop; 78 for a configuration error or a start-up problem only its user can fix
(the message names the key or path: ``serve.port 3334 is in use``, ``store '/x': cannot create
the store directory ...``, ``control socket '/x/s.sock': ...``), which the systemd unit does
not restart on; 1 when another daemon already serves the socket, the store is locked or its
disk full (it may clear: systemd retries), a tunnel did not start, or the daemon failed. Whatever
fails, stderr gets one line; an unexpected error's traceback goes to the daemon log. No
configured secret reaches either (:mod:`voicecall_cli.daemon.redaction`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicecall_cli.core.config import VoiceCallConfig

EXIT_CONFIG = 78


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voicecall daemon")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon in the foreground")
    run.add_argument("--config")
    run.add_argument("--socket")
    args = parser.parse_args(argv)

    logging.basicConfig(level=os.environ.get("VOICECALL_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    from voicecall_cli.core.config import ConfigError, load_config
    from voicecall_cli.protocol import resolve_config_path, resolve_socket_path

    config_path = resolve_config_path(args.config)
    explicit = bool(args.config or os.environ.get("VOICECALL_CONFIG"))
    from voicecall_cli.core.config import check_startup  # the check `config validate` makes

    try:
        config = load_config(config_path, os.environ, explicit=explicit)
        check_startup(config)
    except ConfigError as exc:
        print(f"voicecall: configuration error in {config_path}:", file=sys.stderr)
        for line in str(exc).splitlines():
            print(f"  {line}", file=sys.stderr)
        return EXIT_CONFIG
    from voicecall_cli.daemon.redaction import install, redact

    install(config)  # before anything logs: no configured secret ever reaches the log
    for warning in config.warnings:
        logging.getLogger("voicecall.config").warning("%s", warning)
    socket_path = resolve_socket_path(args.socket, config.control_socket)

    import trio

    from voicecall_cli.daemon.control.transport import ControlSocketError, SocketInUseError
    from voicecall_cli.daemon.main import run_daemon
    from voicecall_cli.daemon.startup import (
        StartupError,
        socket_startup_error,
        store_startup_error,
    )
    from voicecall_cli.daemon.store import StoreError

    try:
        trio.run(partial(run_daemon, config, socket_path,
                         load_config=partial(_load_checked, config_path, explicit)))
    except BaseException as exc:
        leaf = _leaf(exc)
        if isinstance(leaf, StoreError):
            leaf = store_startup_error(leaf, config.store_dir)
        elif isinstance(leaf, ControlSocketError):
            leaf = socket_startup_error(leaf, socket_path, isinstance(leaf, SocketInUseError))
        if isinstance(leaf, StartupError):
            print(f"voicecall: {redact(str(leaf))}", file=sys.stderr)
            return leaf.exit_code
        if isinstance(leaf, KeyboardInterrupt):
            return 130
        if not isinstance(leaf, Exception):
            raise
        log = _write_crash_report(exc)
        print(f"voicecall: the daemon failed: {type(leaf).__name__}: {redact(str(leaf))} "
              f"(details in {log})", file=sys.stderr)
        return 1
    return 0


def _load_checked(config_path: Path, explicit: bool) -> VoiceCallConfig:
    """The config file read and checked again, as at start (``daemon reload``, SIGHUP)."""
    from voicecall_cli.core.config import check_startup, load_config

    config = load_config(config_path, os.environ, explicit=explicit)
    check_startup(config)
    return config


def _write_crash_report(exc: BaseException) -> Path:
    """Append ``exc``'s traceback to the daemon log (``daemon.log`` in the state directory,
    which ``voicecall daemon logs`` shows) and return its path. When stderr already is that
    log (``voicecall daemon start``), the traceback goes there once."""
    import traceback

    from voicecall_cli.protocol import default_state_dir, open_private_append

    log = default_state_dir() / "daemon.log"
    from voicecall_cli.daemon.redaction import redact

    report = redact("".join(traceback.format_exception(exc)))
    try:
        same = os.path.samestat(os.fstat(sys.stderr.fileno()), os.stat(log))
    except (OSError, ValueError):
        same = False
    try:
        if same:
            sys.stderr.write(report)
            sys.stderr.flush()
        else:
            with os.fdopen(open_private_append(log), "a", encoding="utf-8") as sink:
                sink.write(report)
    except OSError:
        pass
    return log


def _leaf(exc: BaseException) -> BaseException:
    """The one exception inside nested single-member exception groups (trio wraps errors
    raised in nurseries), else ``exc`` itself."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


if __name__ == "__main__":
    sys.exit(main())
