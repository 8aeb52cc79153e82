"""The one exit-code table covers every protocol error code and matches DESIGN section 2."""

from __future__ import annotations

from voicecall_cli.cli.exit_codes import (
    EXIT_FOR_ERROR,
    EXIT_STATUS_DOC,
    HINTS,
    CliError,
    ExitCode,
)
from voicecall_cli.protocol import ApiError, ErrorCode


def test_every_error_code_has_an_exit_code() -> None:
    assert set(EXIT_FOR_ERROR) == set(ErrorCode)
    assert set(EXIT_FOR_ERROR.values()) <= set(ExitCode)


def test_the_documented_numbers() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0, "FAILED": 1, "USAGE": 2, "NO_SUCH_CALL": 3, "PERMISSION_DENIED": 4,
        "TIMED_OUT": 5, "CONFLICT": 6, "DAEMON_NOT_RUNNING": 7, "PROTOCOL_MISMATCH": 8,
        "REFUSED": 9, "STORE_UNAVAILABLE": 10, "CONFIG_ERROR": 78, "INTERRUPTED": 130,
        "BROKEN_PIPE": 141}
    assert set(EXIT_STATUS_DOC) == set(ExitCode)
    direct = {ErrorCode.OPERATION_FAILED: 1, ErrorCode.CALL_NOT_FOUND: 3,
              ErrorCode.PERMISSION_DENIED: 4, ErrorCode.TIMEOUT: 5, ErrorCode.CONFLICT: 6,
              ErrorCode.DAEMON_NOT_RUNNING: 7, ErrorCode.PROTOCOL_MISMATCH: 8,
              ErrorCode.CONFIG_ERROR: 78, ErrorCode.BAD_REQUEST: 2, ErrorCode.REFUSED: 9,
              ErrorCode.STORE_UNAVAILABLE: 10}
    assert {code: int(EXIT_FOR_ERROR[code]) for code in direct} == direct


def test_daemon_not_running_carries_the_start_hint() -> None:
    err = CliError.from_api(ApiError(ErrorCode.DAEMON_NOT_RUNNING, "no socket"))
    assert err.exit_code == 7 and err.message == "no socket"
    assert err.hint is not None and "voicecall daemon start" in err.hint
    assert set(HINTS) <= set(ErrorCode)


def test_a_refusal_keeps_the_rail_the_daemon_named() -> None:
    body = ApiError(ErrorCode.REFUSED, "quiet hours", {"rail": "outbound.quietHours"}).to_body()
    err = CliError.from_api(ApiError.from_body(body, 403))
    assert err.exit_code == 9
    assert err.to_json() == {"error": {"code": "refused", "message": "quiet hours",
                                       "rail": "outbound.quietHours"}}
