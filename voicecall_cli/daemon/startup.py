"""Why the daemon cannot start, said in one line that names what to change.

:class:`StartupError` is what start-up raises for a problem its user must fix (the webhook
port is taken, the bind address is wrong). ``python -m voicecall_cli.daemon`` prints it as
``voicecall: <message>`` and exits with :attr:`StartupError.exit_code`: 78 (EX_CONFIG), which
the systemd unit lists in ``RestartPreventExitStatus`` because a restart cannot fix it.
"""

from __future__ import annotations

import errno

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
    if exc.errno == errno.EADDRNOTAVAIL or exc.errno is None:
        return StartupError(f"serve.bind {bind!r} is not an address of this machine "
                            f"({reason}); set serve.bind (127.0.0.1 or 0.0.0.0)")
    return StartupError(f"cannot listen on {bind}:{port} ({reason}); check serve.bind and "
                        "serve.port")
