"""The fake Twilio's asynchronous answering-machine detection (``AsyncAmd``).

A call placed with ``MachineDetection`` and an ``AsyncAmdStatusCallback`` is judged once
answered, from the callee's script: a person is reported ``human`` at once; a machine's
greeting plays ``greeting_s`` and is reported ``machine_start`` at once (``Enable``) or
``machine_end_beep`` once the greeting is over (``DetectMessageEnd``). Each result is a signed
POST of ``AccountSid``, ``CallSid``, ``AnsweredBy`` and ``MachineDetectionDuration`` (ms),
recorded in ``SimCall.amd_callbacks``.

Resource handling: :func:`detect_machine` runs as one of the call's tasks (the runner's), and
is cancelled with the call.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from voicecall_cli.simulator.twilio.call import CalleeScript, SimCall
from voicecall_cli.simulator.twilio.webhooks import WebhookSender


async def detect_machine(call: SimCall, script: CalleeScript, *, account_sid: str,
                         sender: WebhookSender, on_change: Callable[[], None]) -> None:
    """Judge the answered ``call`` and report it (see the module docstring)."""
    machine = script.answered_by == "machine"
    at_end = machine and call.machine_detection == "DetectMessageEnd"

    async def report(answered_by: str, duration_ms: int) -> None:
        call.answered_by = answered_by
        params = {"AccountSid": account_sid, "CallSid": call.sid, "AnsweredBy": answered_by,
                  "MachineDetectionDuration": str(duration_ms)}
        call.amd_callbacks.append(await sender.post(call.amd_callback or "", params))
        on_change()

    call.greeting_playing = machine
    if not at_end:
        await report("machine_start" if machine else "human", 0)
    if machine:
        await trio.sleep(script.greeting_s)
        call.greeting_playing = False
        on_change()
    if at_end:
        await report("machine_end_beep", round(script.greeting_s * 1000))
