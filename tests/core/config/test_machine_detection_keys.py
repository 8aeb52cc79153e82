"""``outbound.machineDetection`` and the mock carrier's ``answeredBy``/``greetingMs``: what
``config validate`` and the daemon's start accept and refuse."""

from __future__ import annotations

import pytest

from .util import errors_of, from_obj


@pytest.mark.parametrize("mode", ["off", "detect", "voicemail"])
def test_each_mode_is_accepted(mode: str) -> None:
    assert from_obj({"outbound": {"machineDetection": mode}}).get(
        "outbound.machineDetection") == mode


def test_an_unknown_mode_is_refused_naming_the_key() -> None:
    errors = errors_of({"outbound": {"machineDetection": "beep"}})
    assert "outbound.machineDetection" in errors
    assert "detect" in errors["outbound.machineDetection"]


def test_the_mock_callee_can_be_a_machine() -> None:
    config = from_obj({"mock": {"answeredBy": "machine", "greetingMs": 800}})
    assert (config.get("mock.answeredBy"), config.get("mock.greetingMs")) == ("machine", 800)
    assert "mock.answeredBy" in errors_of({"mock": {"answeredBy": "fax"}})
    assert "mock.greetingMs" in errors_of({"mock": {"greetingMs": -1}})
