"""The carriers the conformance suite runs: everything that differs per carrier, one class each.

A carrier joins the suite with one :class:`~tests.conformance.harness.CarrierHarness`
subclass below and its entry in :data:`HARNESSES` (nothing else: the tests in
``test_provider_conformance.py`` never name a carrier). A harness is made fresh for every
test, and the suite calls it in this order:

1. ``async with harness.running(plan):`` starts the carrier's simulator (if any);
2. ``harness.config(plan)`` gives the carrier's part of the daemon config, a JSON object
   deep-merged over the suite's common one (``provider``, numbers, inbound allowlist and
   greeting, ``serve`` on 127.0.0.1 port 0, ``notifyHangupDelaySec = 0``, and for media tests
   ``streaming`` with the scripted transcriber; see ``session.common_config``);
3. after every daemon (re)start, ``await harness.attach(daemon)`` learns the daemon's URLs;
4. the tests use the action and observation methods documented on the base class.

Facts are class attributes. A capability a carrier lacks (``signs_webhooks``, ``media``,
``ends_calls_offline``) is False and ``why_not[<attribute>]`` says why: tests marked
``@pytest.mark.needs(<attribute>)`` skip with that reason. ``known_bugs`` maps a test
function's name to a product bug's description: that test runs as ``xfail(strict=True)``
for this carrier only, so it fails loudly once the bug is fixed.
"""

from __future__ import annotations

from tests.conformance.carrier_mock import MockHarness
from tests.conformance.carrier_plivo import PlivoHarness
from tests.conformance.carrier_telnyx import TelnyxHarness
from tests.conformance.carrier_twilio import TwilioHarness
from tests.conformance.harness import CalleePlan, CarrierHarness, Delivery, MediaCaller

__all__ = ["HARNESSES", "CalleePlan", "CarrierHarness", "Delivery", "MediaCaller",
           "MockHarness", "PlivoHarness", "TelnyxHarness", "TwilioHarness"]

HARNESSES: list[type[CarrierHarness]] = [MockHarness, TwilioHarness, TelnyxHarness,
                                         PlivoHarness]
