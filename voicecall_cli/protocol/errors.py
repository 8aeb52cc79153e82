"""Stable error codes of the control API and the HTTP status each one travels with.

The daemon raises :class:`ApiError`; the control server turns it into
``{"error": {"code", "message", ...details}}`` with :data:`HTTP_STATUS` of the code; the CLI
maps the code onto its exit code (one table, ``voicecall_cli.cli.exit_codes``). Messages never
carry secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class ErrorCode(StrEnum):
    OPERATION_FAILED = "operation_failed"
    BAD_REQUEST = "bad_request"
    CALL_NOT_FOUND = "call_not_found"
    PERMISSION_DENIED = "permission_denied"
    TIMEOUT = "timeout"
    CONFLICT = "conflict"
    DAEMON_NOT_RUNNING = "daemon_not_running"
    PROTOCOL_MISMATCH = "protocol_mismatch"
    CONFIG_ERROR = "config_error"
    # An outbound safety rail refused the call; ``details`` name the ``rail`` (its config key).
    REFUSED = "refused"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # The daemon's store cannot be read or written (disk full, file size limit, I/O error,
    # corrupt file); the message names the file. Nothing of the refused request was kept.
    STORE_UNAVAILABLE = "store_unavailable"
    INTERNAL = "internal"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.OPERATION_FAILED: 502,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.CALL_NOT_FOUND: 404,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.CONFLICT: 409,
    ErrorCode.DAEMON_NOT_RUNNING: 503,
    ErrorCode.PROTOCOL_MISMATCH: 400,
    ErrorCode.CONFIG_ERROR: 422,
    ErrorCode.REFUSED: 403,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.STORE_UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


def error_body(code: str, message: str, details: Mapping[str, object] | None = None,
               hint: str | None = None) -> dict[str, object]:
    """``{"error": {...details, "code", "message"[, "hint"]}}``: the one shape of a failure,
    in the control API's error responses, the CLI's ``--json`` errors and the MCP tool's
    error results (``hint``, for the last two, says what to do about it)."""
    error: dict[str, object] = {**(details or {}), "code": code, "message": message}
    if hint:
        error["hint"] = hint
    return {"error": error}


class ApiError(Exception):
    """An error the control API reports to its client with a stable ``code``.

    Raised by daemon handlers (never for programming errors, which become ``internal``) and
    re-raised by the CLI client from an error response body. ``details`` are extra facts a
    client can act on (``{"rail": "outbound.allowTo"}``): JSON values, sent beside ``code`` and
    ``message`` in the error object.
    """

    def __init__(self, code: ErrorCode | str, message: str,
                 details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.code = ErrorCode(code) if code in ErrorCode._value2member_map_ else ErrorCode.INTERNAL
        self.message = message
        self.details: dict[str, object] = dict(details or {})

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def to_body(self) -> dict[str, object]:
        return error_body(self.code.value, self.message, self.details)

    @classmethod
    def from_body(cls, body: object, fallback_status: int) -> ApiError:
        """Rebuild the error from a response body; garbage becomes ``internal``."""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            err = body["error"]
            details = {k: v for k, v in err.items() if k not in ("code", "message")}
            return cls(str(err.get("code", "internal")), str(err.get("message", "")), details)
        return cls(ErrorCode.INTERNAL, f"daemon answered HTTP {fallback_status}")
