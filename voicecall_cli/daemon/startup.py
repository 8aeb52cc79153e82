"""Why the daemon cannot start, said in one line that names what to change.

:class:`StartupError` is what start-up raises for a problem its user must fix (the webhook
port is taken, the bind address is wrong, the store or the control socket cannot be set up:
:func:`store_startup_error`, :func:`socket_startup_error`). ``python -m voicecall_cli.daemon``
prints it as ``voicecall: <message>`` and exits with :attr:`StartupError.exit_code`: 78
(EX_CONFIG), which the systemd unit lists in ``RestartPreventExitStatus`` because a restart
cannot fix it.
"""

from __future__ import annotations

import errno
import socket

from voicecall_cli.daemon.port_owner import pid_listening_on

EXIT_CONFIG = 78


class StartupError(Exception):
    """The daemon cannot start; ``str(err)`` says what to change, in one line."""

    def __init__(self, message: str, exit_code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def webhook_bind_error(exc: OSError, bind: str, port: int) -> StartupError:
    """The webhook server could not listen on ``bind:port`` (``serve.bind``/``serve.port``)."""
    if exc.errno == errno.EADDRINUSE:
        pid = pid_listening_on(port)
        by = f" (by pid {pid})" if pid is not None else ""
        return StartupError(f"serve.port {port} is in use{by}; set serve.port or stop the "
                            "other server")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return StartupError(f"serve.port {port} needs privileges this user lacks; set "
                            "serve.port to 1024 or above")
    reason = exc.strerror or str(exc)
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL or exc.errno is None:
        what = "is not an address" if isinstance(exc, socket.gaierror) else \
            "is not an address of this machine"
        return StartupError(f"serve.bind {bind!r} {what} ({reason}); set serve.bind "
                            "(127.0.0.1 or 0.0.0.0)")
    return StartupError(f"cannot listen on {bind}:{port} ({reason}); check serve.bind and "
                        "serve.port")


def store_startup_error(exc: Exception, store_dir: object) -> StartupError:
    """The store (config key ``store``) cannot be opened at start. A store locked by another
    process or a full disk may clear by itself (exit 1: systemd retries); a directory that
    cannot be made, a corrupt file or a newer schema needs its user (exit 78)."""
    transient = bool(getattr(exc, "transient", False))
    return StartupError(f"store {str(store_dir)!r}: {exc}",
                        exit_code=1 if transient else EXIT_CONFIG)


def socket_startup_error(exc: Exception, socket_path: object, in_use: bool) -> StartupError:
    """The control socket (``--socket``, ``VOICECALL_SOCKET`` or the config's
    ``controlSocket``) cannot be set up. Another daemon on it: exit 1 (as before); a
    directory that cannot be made or used: exit 78."""
    if in_use:
        return StartupError(str(exc), exit_code=1)
    return StartupError(f"control socket {str(socket_path)!r}: {exc} (set --socket, "
                        "VOICECALL_SOCKET or controlSocket)")
