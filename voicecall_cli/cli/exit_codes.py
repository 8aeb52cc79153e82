"""THE exit-code table of ``voicecall``: every outcome becomes one of these codes, here only.

:data:`EXIT_FOR_ERROR` maps every control-API :class:`~voicecall_cli.protocol.ErrorCode` onto
an exit code and :data:`HINTS` adds advice to some of them. :class:`CliError` is the one
exception commands raise for a failure that is not an :class:`~voicecall_cli.protocol.ApiError`
(a config file that does not parse, a daemon that exits during start-up); the root group turns
both into ``voicecall: <message>`` (+ ``hint: ...``) on stderr and the exit code.
The man page's EXIT STATUS section is generated from :data:`EXIT_STATUS_DOC`.
"""

from __future__ import annotations

from enum import IntEnum

from voicecall_cli.protocol import ApiError, ErrorCode, error_body


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    NO_SUCH_CALL = 3
    PERMISSION_DENIED = 4
    TIMED_OUT = 5
    CONFLICT = 6
    DAEMON_NOT_RUNNING = 7
    PROTOCOL_MISMATCH = 8
    REFUSED = 9
    STORE_UNAVAILABLE = 10
    CONFIG_ERROR = 78
    INTERRUPTED = 130
    BROKEN_PIPE = 141


EXIT_STATUS_DOC: dict[ExitCode, str] = {
    ExitCode.OK: "Success.",
    ExitCode.FAILED: "The operation failed (the daemon or the carrier reported an error).",
    ExitCode.USAGE: "Usage error: a bad option or argument, or a request the daemon rejected.",
    ExitCode.NO_SUCH_CALL: "No such call.",
    ExitCode.PERMISSION_DENIED: "Permission denied on the control socket.",
    ExitCode.TIMED_OUT: "Timed out waiting (for example for the caller's reply in continue).",
    ExitCode.CONFLICT: "Conflict: already waiting for a transcript, too many concurrent calls.",
    ExitCode.DAEMON_NOT_RUNNING: (
        "The daemon is not running (start it with voicecall daemon start)."
    ),
    ExitCode.PROTOCOL_MISMATCH: "The CLI and the daemon do not speak the same control protocol.",
    ExitCode.REFUSED: ("An outbound safety rail refused the call (outbound.allowTo, "
                       "outbound.quietHours, outbound.maxCallsPerHour...); the message names it."),
    ExitCode.STORE_UNAVAILABLE: ("The daemon's store cannot be written or read (disk full, "
                                 "I/O error); the message names the file. Nothing was done."),
    ExitCode.CONFIG_ERROR: "Configuration error; the message names the key path.",
    ExitCode.INTERRUPTED: "Interrupted (Ctrl-C).",
    ExitCode.BROKEN_PIPE: "Stdout was closed early (the reading end of a pipe, such as head, "
                          "exited); nothing is printed.",
}

# The stable error code (as in ``{"error": {"code": ...}}`` under --json) of a failure that did
# not come from the daemon with a code of its own.
CODE_FOR_EXIT: dict[ExitCode, str] = {
    ExitCode.FAILED: ErrorCode.OPERATION_FAILED.value,
    ExitCode.USAGE: "usage",
    ExitCode.NO_SUCH_CALL: ErrorCode.CALL_NOT_FOUND.value,
    ExitCode.PERMISSION_DENIED: ErrorCode.PERMISSION_DENIED.value,
    ExitCode.TIMED_OUT: ErrorCode.TIMEOUT.value,
    ExitCode.CONFLICT: ErrorCode.CONFLICT.value,
    ExitCode.DAEMON_NOT_RUNNING: ErrorCode.DAEMON_NOT_RUNNING.value,
    ExitCode.PROTOCOL_MISMATCH: ErrorCode.PROTOCOL_MISMATCH.value,
    ExitCode.CONFIG_ERROR: ErrorCode.CONFIG_ERROR.value,
    ExitCode.REFUSED: ErrorCode.REFUSED.value,
    ExitCode.STORE_UNAVAILABLE: ErrorCode.STORE_UNAVAILABLE.value,
    ExitCode.INTERRUPTED: "interrupted",
}

EXIT_FOR_ERROR: dict[ErrorCode, ExitCode] = {
    ErrorCode.OPERATION_FAILED: ExitCode.FAILED,
    ErrorCode.BAD_REQUEST: ExitCode.USAGE,
    ErrorCode.CALL_NOT_FOUND: ExitCode.NO_SUCH_CALL,
    ErrorCode.PERMISSION_DENIED: ExitCode.PERMISSION_DENIED,
    ErrorCode.TIMEOUT: ExitCode.TIMED_OUT,
    ErrorCode.CONFLICT: ExitCode.CONFLICT,
    ErrorCode.DAEMON_NOT_RUNNING: ExitCode.DAEMON_NOT_RUNNING,
    ErrorCode.PROTOCOL_MISMATCH: ExitCode.PROTOCOL_MISMATCH,
    ErrorCode.CONFIG_ERROR: ExitCode.CONFIG_ERROR,
    ErrorCode.REFUSED: ExitCode.REFUSED,
    ErrorCode.PAYLOAD_TOO_LARGE: ExitCode.USAGE,
    # The daemon does not know the endpoint or the verb: it speaks another protocol.
    ErrorCode.NOT_FOUND: ExitCode.PROTOCOL_MISMATCH,
    ErrorCode.METHOD_NOT_ALLOWED: ExitCode.PROTOCOL_MISMATCH,
    ErrorCode.STORE_UNAVAILABLE: ExitCode.STORE_UNAVAILABLE,
    ErrorCode.INTERNAL: ExitCode.FAILED,
}

HINTS: dict[ErrorCode, str] = {
    ErrorCode.DAEMON_NOT_RUNNING: "start it with: voicecall daemon start",
    ErrorCode.PERMISSION_DENIED: (
        "the socket belongs to another user; point --socket (or VOICECALL_SOCKET) at your own"
    ),
    ErrorCode.PROTOCOL_MISMATCH: (
        "the CLI and the daemon are different versions; restart the daemon: "
        "voicecall daemon stop && voicecall daemon start"
    ),
    ErrorCode.NOT_FOUND: "the daemon is a different version; restart it with this CLI's version",
    ErrorCode.METHOD_NOT_ALLOWED: (
        "the daemon is a different version; restart it with this CLI's version"
    ),
    ErrorCode.CONFIG_ERROR: "check it with: voicecall config validate",
    ErrorCode.STORE_UNAVAILABLE: (
        "free space on that file's disk (or fix its permissions), then retry; "
        "voicecall daemon logs shows the details"
    ),
}


class CliError(Exception):
    """A failure reported as ``voicecall: <message>`` (+ ``hint``) and ``exit_code``; under
    ``--json`` also as ``{"error": {"code", "message"}}`` on stdout. ``code`` is the
    daemon's error code when the failure came from it, else the exit code's
    (:data:`CODE_FOR_EXIT`)."""

    def __init__(self, message: str, exit_code: int = ExitCode.FAILED,
                 hint: str | None = None, code: str | None = None,
                 details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})
        self.exit_code = int(exit_code)
        self.hint = hint
        self.code = code or CODE_FOR_EXIT.get(self.exit_code, "operation_failed")

    @classmethod
    def from_api(cls, err: ApiError, *, message: str | None = None,
                 hint: str | None = None) -> CliError:
        """The CLI form of a control-API error: its exit code, its message, the code's hint."""
        return cls(message or err.message or err.code.value, EXIT_FOR_ERROR[err.code],
                   hint if hint is not None else HINTS.get(err.code), code=err.code.value,
                   details=err.details)

    def to_json(self) -> dict[str, object]:
        """``{"error": {"code", "message"[, "hint"], ...details}}``, the --json form of this
        failure (``details`` as the daemon sent them, such as the refusing ``rail``)."""
        return error_body(self.code, self.message, self.details, self.hint)
