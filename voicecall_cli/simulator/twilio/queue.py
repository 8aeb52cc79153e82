"""Where a simulated Twilio call waits after ``<Enqueue>``: the queue's seat of one call.

:class:`QueueSeat` remembers the Enqueue's ``action`` and when the call sat down; it gives the
queue parameters Twilio adds to the ``waitUrl`` fetch and the ``action`` POST, and, when the
call leaves (a REST update: ``redirected``; the caller hangs up: ``hangup``), POSTs the
``action`` with ``QueueResult`` (its reply is ignored, as on Twilio).

Resource handling: the ``action`` POST runs in the simulator's nursery (it outlives the call's
own tasks, like the final status callback).
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from voicecall_cli.simulator.twilio.call import SimCall
from voicecall_cli.simulator.twilio.webhooks import WebhookSender

QUEUE_SID = "QU" + "0" * 32


class QueueSeat:
    def __init__(self, call: SimCall, *, sender: WebhookSender, nursery: trio.Nursery,
                 clock_ms: Callable[[], int], on_change: Callable[[], None]) -> None:
        self._call = call
        self._sender = sender
        self._nursery = nursery
        self._clock_ms = clock_ms
        self._on_change = on_change
        self._action: str | None = None  # the Enqueue's action while the call waits
        self._since_ms = 0

    def sit(self, queue: str, action: str | None) -> None:
        """The call waits in ``queue``; ``action`` (absolute) hears when it leaves."""
        self._call.queue = queue
        self._action = action
        self._since_ms = self._clock_ms()
        self._on_change()

    def params(self) -> dict[str, str]:
        waited_s = max(0, round((self._clock_ms() - self._since_ms) / 1000))
        return {"QueueSid": QUEUE_SID, "QueueTime": str(waited_s), "QueuePosition": "1",
                "CurrentQueueSize": "1", "AvgQueueTime": "0"}

    def leave(self, result: str, call_params: dict[str, str]) -> None:
        """The call left the queue it waited in (nothing happens if it waited in none)."""
        action, self._action = self._action, None
        if action is None:
            return
        self._call.queue_results.append(result)
        self._on_change()
        params = {**call_params, **self.params(), "QueueResult": result}

        async def post() -> None:
            self._call.webhooks.append(await self._sender.post(action, params))
            self._on_change()

        self._nursery.start_soon(post)
