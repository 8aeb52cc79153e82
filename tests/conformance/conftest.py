"""The ``carrier`` fixture: every conformance test runs once per entry of ``HARNESSES``.

``@pytest.mark.needs("media")`` skips the test for a carrier whose fact is False, with the
reason the harness gives in ``why_not``.

A test a harness lists in ``known_bugs`` runs as ``xfail(strict=True)`` for that carrier (a
marker applied during setup is honoured when the test's call phase is evaluated).
"""

from __future__ import annotations

import pytest

from tests.conformance.carriers import HARNESSES, CarrierHarness


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(capability): the test needs a carrier fact "
                            "(a CarrierHarness attribute); skipped with the harness's reason")


@pytest.fixture(params=HARNESSES, ids=[h.name for h in HARNESSES])
def carrier(request: pytest.FixtureRequest) -> CarrierHarness:
    harness: CarrierHarness = request.param()
    for mark in request.node.iter_markers("needs"):
        for capability in mark.args:
            if not getattr(harness, capability):
                pytest.skip(harness.why_not.get(capability,
                                                f"{harness.name}: no {capability}"))
    bug = harness.known_bugs.get(request.node.originalname)
    if bug:
        request.applymarker(pytest.mark.xfail(strict=True, reason=bug))
    return harness

