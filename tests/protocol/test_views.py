"""The typed views: one definition of what the daemon answers, for the daemon, the client and
the MCP server's published schema."""

from __future__ import annotations

import pytest

from voicecall_cli.core.call import CallRecord, TranscriptEntry
from voicecall_cli.core.states import CallState
from voicecall_cli.protocol.schema import json_schema, merged_schema
from voicecall_cli.protocol.views import (
    CallPreview,
    CallsResult,
    CallView,
    ContinueResult,
    HealthView,
    InitiateResult,
    StatusResult,
    SuccessResult,
)


def ended_call() -> CallRecord:
    call = CallRecord(call_id="c-1", provider="mock", direction="outbound",
                      state=CallState.HANGUP_USER, from_number="+15550000000",
                      to_number="+15550001111", started_at=1000, provider_call_id="p-1",
                      answered_at=2000, ended_at=9000, end_reason="hangup-user",
                      metadata={"mode": "conversation"})
    call.transcript = [TranscriptEntry(2500, "bot", "Hi!"),
                       TranscriptEntry(3000, "user", "Hel", is_final=False),
                       TranscriptEntry(3100, "user", "Hello.")]
    call.remember_key("webhook-key")
    return call


def test_the_view_is_the_stored_record_without_its_bookkeeping() -> None:
    call = ended_call()
    stored = call.to_dict()
    assert stored.pop("processedEventIds") == ["webhook-key"]
    view = call.to_view()
    assert view.to_json() == stored  # same keys, same order, same values
    assert CallView.from_json(call.to_dict()) == view  # unknown keys are ignored
    assert view.ended and view.answered
    assert view.transcript_text() == "bot: Hi!\nuser: Hello."


def test_a_live_call_keeps_its_nulls() -> None:
    call = ended_call()
    call.ended_at = call.end_reason = None
    data = call.to_view().to_json()
    assert data["endedAt"] is None and data["endReason"] is None
    assert not CallView.from_json(data).ended


@pytest.mark.parametrize("broken, message", [
    ({"callId": 5}, "CallView.callId: expected a string"),
    ({"startedAt": True}, "CallView.startedAt: expected an integer"),
    ({"transcript": "hi"}, "CallView.transcript: expected a list"),
    ({"state": None}, "CallView.state: null is not allowed"),
])
def test_an_answer_of_the_wrong_shape_is_refused(broken: dict, message: str) -> None:
    data = {**ended_call().to_view().to_json(), **broken}
    with pytest.raises(ValueError, match=message):
        CallView.from_json(data)


def test_a_missing_field_is_named() -> None:
    data = ended_call().to_view().to_json()
    del data["to"]
    with pytest.raises(ValueError, match="CallView: no 'to'"):
        CallView.from_json(data)
    with pytest.raises(ValueError, match="expected a JSON object"):
        StatusResult.from_json([])


def test_optional_fields_are_left_out_not_null() -> None:
    assert InitiateResult(initiated=True, callId="c-1").to_json() == {
        "initiated": True, "callId": "c-1"}
    preview = InitiateResult(initiated=False, confirmationRequired=True, confirmToken="t",
                             expiresAt=5, preview=CallPreview("+1555", "+1666", "notify", "Hi"))
    assert preview.to_json()["preview"] == {"to": "+1555", "from": "+1666", "mode": "notify",
                                            "message": "Hi"}
    assert InitiateResult.from_json(preview.to_json()) == preview
    assert StatusResult(found=False).to_json() == {"found": False}
    back = StatusResult.from_json({"found": True, "call": ended_call().to_view().to_json()})
    assert back.call == ended_call().to_view()


def test_the_schema_says_what_to_json_writes() -> None:
    schema = json_schema(CallView)
    assert schema["required"] == list(ended_call().to_view().to_json())
    assert schema["properties"]["from"] == {"type": "string"}
    assert schema["properties"]["endedAt"] == {"type": ["integer", "null"]}
    line = schema["properties"]["transcript"]["items"]
    assert line["required"] == ["timestamp", "speaker", "text"]
    assert json_schema(HealthView)["properties"]["exposure"] == {"type": "object"}
    # Optional fields are absent rather than null, so their schema allows no null.
    assert json_schema(InitiateResult)["properties"]["callId"] == {"type": "string"}


def test_the_results_merge_into_one_answer_schema() -> None:
    merged = merged_schema(InitiateResult, ContinueResult, SuccessResult, StatusResult,
                           CallsResult)
    assert "required" not in merged
    assert {"callId", "transcript", "success", "found", "call", "calls", "confirmToken",
            "preview"} <= set(merged["properties"])
    assert merged["properties"]["calls"]["items"]["properties"]["callId"] == {"type": "string"}
