"""Hostile values in every field of every control request: refused as ``bad_request`` naming
the field, before the daemon could act (issue #14 items 2, 7 and 8)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from voicecall_cli.protocol import REQUESTS, ApiError, ErrorCode, InitiateRequest
from voicecall_cli.protocol.messages import _FIELD_TYPES
from voicecall_cli.protocol.text import is_e164, is_e164_prefix, lone_surrogate, xml_safe

# A valid body of every request type, so one field at a time can be spoiled.
VALID: dict[str, dict[str, object]] = {
    "voicecall.initiate": {"message": "hi", "to": "+15550001111", "mode": "notify",
                           "from": "+15550002222", "idempotencyKey": "k1", "origin": "cli",
                           "confirmToken": "t", "objective": "Book the ten o'clock slot.",
                           "record": True},
    "voicecall.continue": {"callId": "abc", "message": "m", "timeoutMs": 5000,
                           "accept": "both"},
    "voicecall.dtmf": {"callId": "abc", "digits": "ww12#"},
    "voicecall.speak": {"callId": "abc", "message": "m"},
    "voicecall.end": {"callId": "abc"},
    "voicecall.status": {"callId": "abc"},
    "voicecall.calls": {"state": "active", "since": 0, "limit": 5},
    "voicecall.expose": {"mode": "serve", "path": "/voice"},
    "voicecall.latency": {"callId": "abc", "last": 5},
    "daemon.doctor": {},
    "daemon.reload": {},
    "daemon.stop": {},
}


def wire_fields(method: str) -> list[str]:
    cls = REQUESTS[method]
    return [cls.WIRE_NAMES.get(f.name, f.name) for f in dataclasses.fields(cls)]


STRING_FIELDS = [(m, f) for m in REQUESTS for f in wire_fields(m) if f not in _FIELD_TYPES]
INT_FIELDS = [(m, f) for m in REQUESTS for f in wire_fields(m) if _FIELD_TYPES.get(f) is int]
BOOL_FIELDS = [(m, f) for m in REQUESTS for f in wire_fields(m) if _FIELD_TYPES.get(f) is bool]


def test_the_valid_bodies_parse() -> None:
    assert sorted(VALID) == sorted(REQUESTS)
    for method, body in VALID.items():
        REQUESTS[method].parse(body)
    assert len(STRING_FIELDS) >= 14 and len(INT_FIELDS) == 4 and len(BOOL_FIELDS) == 1


def refusal(method: str, field: str, value: object) -> ApiError:
    with pytest.raises(ApiError) as err:
        REQUESTS[method].parse({**VALID[method], field: value})
    assert err.value.code is ErrorCode.BAD_REQUEST and err.value.http_status == 400
    return err.value


@pytest.mark.parametrize(("method", "field"), STRING_FIELDS)
@pytest.mark.parametrize("text", ["caf\udce9", "\ud800", "ok \udfff tail", "\udce9"])
def test_a_lone_surrogate_in_any_string_field_is_refused_naming_it(method, field, text):
    # What json.loads makes of "caf\udce9" on the wire, or the CLI of argv that is not UTF-8.
    assert json.loads(json.dumps(text)) == text
    err = refusal(method, field, text)
    assert err.message.startswith(f"{field} is not valid UTF-8 text")
    err.to_body()["error"]["message"].encode("utf-8")  # the answer itself can be sent


@pytest.mark.parametrize(("method", "field"), INT_FIELDS)
@pytest.mark.parametrize("value", [10**400, -(10**400), 2**63, 2**53, -1, 1.5, float("inf"),
                                   "12", True, [], {}])
def test_an_absurd_number_in_any_integer_field_is_refused_naming_it(method, field, value):
    err = refusal(method, field, value)
    assert err.message.startswith(field)
    assert len(err.message) < 200  # never the 400-digit value echoed back


@pytest.mark.parametrize(("method", "field"), BOOL_FIELDS)
@pytest.mark.parametrize("value", [1, 0, "true", "yes", [], {}, 1.0])
def test_anything_but_true_or_false_in_a_flag_is_refused_naming_it(method, field, value):
    err = refusal(method, field, value)
    assert err.message == f"{field} must be true or false"


def test_a_long_timeout_within_a_day_is_accepted() -> None:
    body = {**VALID["voicecall.continue"], "timeoutMs": 24 * 3600 * 1000}
    assert REQUESTS["voicecall.continue"].parse(body).timeoutMs == 86_400_000
    refusal("voicecall.continue", "timeoutMs", 24 * 3600 * 1000 + 1)


NOT_E164 = ["+1555555012\uff13", "+\u0661\u0662\u0663\u0664\u0665\u0666\u0667",
            "+1555\u09e8000111", "+1555 0001111", "15550001111", "+0555000111", "+1",
            "+1234567890123456"]


@pytest.mark.parametrize("number", NOT_E164)
@pytest.mark.parametrize("field", ["to", "from"])
def test_only_ascii_e164_numbers_may_be_dialled_or_dialled_from(number, field) -> None:
    assert not is_e164(number)
    err = refusal("voicecall.initiate", field, number)
    assert err.message == f"{field}: Expected E.164 format, e.g. +15550001234"


def test_unicode_digits_are_not_digits_to_the_number_checks() -> None:
    assert "\uff13".isdigit() and "\u0661".isdigit()  # why str.isdigit() must not decide
    assert is_e164("+15550001234") and is_e164_prefix("+44")
    assert not any(is_e164(n) or is_e164_prefix(n) for n in NOT_E164[:3])
    parsed = InitiateRequest.parse({"message": "hi", "to": " +15550001234 "})
    assert parsed.to == "+15550001234"


def test_lone_surrogates_are_found_and_xml_illegal_characters_replaced() -> None:
    assert lone_surrogate("caf\udce9") == 3 and lone_surrogate("café 😀") is None
    illegal = "".join(map(chr, [*range(0x20), 0xD800, 0xDFFF, 0xFFFE, 0xFFFF]))
    cleaned = xml_safe("a" + illegal + "b")
    assert cleaned == "a" + " " * 9 + "\t\n" + " " * 2 + "\r" + " " * 22 + "b"
    cleaned.encode("utf-8")
