"""Request parsing: what the daemon accepts on the control socket, and the errors it gives."""

import pytest

from voicecall_cli.protocol import (
    HTTP_STATUS,
    REQUESTS,
    ApiError,
    CallsRequest,
    ContinueRequest,
    ErrorCode,
    InitiateRequest,
    StatusRequest,
)


def test_every_rpc_name_is_routed() -> None:
    assert sorted(REQUESTS) == ["daemon.doctor", "daemon.reload", "daemon.stop",
                                "voicecall.calls", "voicecall.continue", "voicecall.dtmf",
                                "voicecall.end", "voicecall.expose", "voicecall.initiate",
                                "voicecall.latency", "voicecall.speak", "voicecall.status"]


def test_wire_names_that_are_python_keywords_round_trip() -> None:
    req = InitiateRequest.parse({"message": "hi", "from": " +15550002222 "})
    assert req.from_ == "+15550002222"
    assert req.to_body() == {"message": "hi", "from": "+15550002222"}
    with pytest.raises(ApiError, match="unknown field 'from_'"):
        InitiateRequest.parse({"message": "hi", "from_": "+15550002222"})


def test_fields_are_trimmed_and_optional_ones_default() -> None:
    req = InitiateRequest.parse({"message": "  Hello  ", "to": " +15550001111 "})
    assert (req.message, req.to, req.mode) == ("Hello", "+15550001111", None)
    assert StatusRequest.parse(None) == StatusRequest(callId=None)


@pytest.mark.parametrize(("cls", "body", "message"), [
    (InitiateRequest, {}, "message required"),
    (InitiateRequest, {"message": "   "}, "message required"),
    (InitiateRequest, {"message": "hi", "mode": "loud"}, "mode must be 'notify' or 'conversation'"),
    (InitiateRequest, {"message": "hi", "extra": 1}, "unknown field 'extra'"),
    (InitiateRequest, ["not", "an", "object"], "request body must be a JSON object"),
    (ContinueRequest, {"callId": "c", "message": "m", "timeoutMs": "5"},
     "timeoutMs must be an integer"),
    (ContinueRequest, {"callId": "c", "message": "m", "timeoutMs": True},
     "timeoutMs must be an integer"),
    (ContinueRequest, {"callId": "c", "message": "m", "timeoutMs": 0},
     "timeoutMs must be positive"),
    (ContinueRequest, {"callId": 7, "message": "m"}, "callId must be a string"),
    (InitiateRequest, {"message": "hi", "from": 5}, "from must be a string"),
    (CallsRequest, {"limit": 0}, "limit must be between 1 and 1000"),
    (CallsRequest, {"limit": "5"}, "limit must be an integer"),
    (CallsRequest, {"since": -1}, "since must be epoch milliseconds"),
])
def test_bad_requests_name_the_field(cls, body, message) -> None:
    with pytest.raises(ApiError) as err:
        cls.parse(body)
    assert err.value.code is ErrorCode.BAD_REQUEST and err.value.message == message
    assert err.value.http_status == 400


def test_error_bodies_round_trip_and_garbage_becomes_internal() -> None:
    err = ApiError(ErrorCode.CONFLICT, "Already waiting for transcript")
    again = ApiError.from_body(err.to_body(), 409)
    assert (again.code, again.message) == (ErrorCode.CONFLICT, "Already waiting for transcript")
    assert ApiError.from_body("<html>", 502).code is ErrorCode.INTERNAL
    assert ApiError("no-such-code", "x").code is ErrorCode.INTERNAL
    assert set(HTTP_STATUS) == set(ErrorCode)
