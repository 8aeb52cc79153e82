"""Decoding what a control request carries, before anything acts on it: the JSON object of a
POST body and the query of ``GET /v1/events``. Pure functions; every problem is an
:class:`ApiError` ``bad_request`` that says what is wrong (never echoing a huge value), so
nothing a client sends can become an internal error.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from voicecall_cli.protocol import ApiError, ErrorCode
from voicecall_cli.protocol.events import SINCE_ALL
from voicecall_cli.protocol.text import invalid_text_message

MAX_CURSOR_DIGITS = 18  # an event cursor fits a signed 64-bit integer


def json_object(body: bytes) -> dict[str, Any] | None:
    """The decoded JSON object of a request body (None when empty); ``bad_request`` naming
    what is wrong otherwise."""
    if not body.strip():
        return None
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, f"request body is not valid JSON: {exc.msg} "
                       f"(line {exc.lineno}, column {exc.colno})") from exc
    except UnicodeDecodeError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, "request body is not UTF-8 text") from exc
    except RecursionError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, "request body is nested too deeply") from exc
    except ValueError as exc:  # an integer beyond Python's int-from-text digit limit, NaN
        raise ApiError(ErrorCode.BAD_REQUEST,
                       f"request body holds a number out of range: {_number_problem(exc)}"
                       ) from exc
    if not isinstance(value, dict):
        raise ApiError(ErrorCode.BAD_REQUEST,
                       f"request body must be a JSON object, not {_json_kind(value)}")
    return value


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _number_problem(exc: ValueError) -> str:
    text = str(exc)
    return text if "not a JSON number" in text else "an integer with too many digits"


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "true/false" if isinstance(value, bool) else "a number"


def events_query(query: str) -> tuple[int | str | None, str | None]:
    """``since`` (None, ``"all"`` or a cursor >= 0) and ``callId`` of ``GET /v1/events``."""
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query),
                          max_num_fields=8)
    except ValueError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, f"malformed query string: {exc}") from exc
    unknown = sorted(set(params) - {"since", "callId"})
    if unknown:
        raise ApiError(ErrorCode.BAD_REQUEST, f"unknown query parameter {unknown[0]!r}")
    for name, values in params.items():
        if len(values) != 1:
            raise ApiError(ErrorCode.BAD_REQUEST, f"{name} given more than once")
    since_text = params.get("since", [None])[0]
    since: int | str | None = since_text
    if since_text is not None and since_text != SINCE_ALL:
        if not (since_text.isascii() and since_text.isdigit()
                and len(since_text) <= MAX_CURSOR_DIGITS):
            raise ApiError(ErrorCode.BAD_REQUEST,
                           f"since must be a cursor (0 or more) or {SINCE_ALL!r}, "
                           f"not {since_text[:40]!r}")
        since = int(since_text)
    call_id = params.get("callId", [""])[0].strip() or None
    if call_id is not None:
        problem = invalid_text_message("callId", call_id)
        if problem:
            raise ApiError(ErrorCode.BAD_REQUEST, problem)
    return since, call_id
