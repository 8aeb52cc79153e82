"""Telnyx speech text is cleaned like the XML carriers' (issue #14 item 6): what XML cannot
carry never reaches Telnyx's speak command, so every carrier says the same words."""

from __future__ import annotations

import trio

from .test_rest import bodies, harness


async def test_control_characters_and_lone_surrogates_become_spaces_in_the_payload() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            pid = await h.place()
            await h.sim.wait_for_status(pid, "answered")
            await h.client.speak("call-1", pid, "Line one\fline\vtwo\x00end\udce9.")
            [body] = bodies(h, "/actions/speak")
            assert body["payload"] == "Line one line two end ."
            assert h.sim.calls[pid].spoken == ["Line one line two end ."]
