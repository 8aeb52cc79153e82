"""``voicecall tail``'s line for the post-call hook's ``call.hook`` events (issue #15, item 4)."""

from __future__ import annotations

from voicecall_cli.cli import render_events


def test_hook_events_say_kind_outcome_attempt_and_error() -> None:
    def line(**data: object) -> str:
        return render_events.event_line({"ts": 0, "callId": "abcdef123456", "type": "call.hook",
                                         "data": data}, full_id=True).plain

    ok = line(status="ok", kind="command", attempt=1)
    assert ok.rstrip().endswith("call.hook        post-call hook (command) ok, attempt 1")
    retrying = line(status="retrying", kind="url", attempt=2, error="HTTP 503")
    assert retrying.rstrip().endswith("post-call hook (url) retrying, attempt 2: HTTP 503")
    failed = render_events.event_line({"ts": 0, "callId": "c", "type": "call.hook", "data": {
        "status": "failed", "kind": "url", "attempt": 4, "error": "HTTP 500"}})
    assert failed.plain.rstrip().endswith("failed, attempt 4: HTTP 500")
    assert any("red" in str(span.style) for span in failed.spans)
