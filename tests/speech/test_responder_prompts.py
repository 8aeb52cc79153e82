"""responseModel parsing and the chat messages the auto-responder sends (pure, no I/O)."""

from __future__ import annotations

import pytest

from voicecall_cli.speech.errors import SpeechError
from voicecall_cli.speech.prompts import build_messages, parse_model


@pytest.mark.parametrize(("setting", "expected"), [
    (None, ("openai", "gpt-4o-mini")),
    ("", ("openai", "gpt-4o-mini")),
    ("  ", ("openai", "gpt-4o-mini")),
    ("openai/gpt-4o-mini", ("openai", "gpt-4o-mini")),
    ("openai/gpt-4.1", ("openai", "gpt-4.1")),
    ("OpenAI/gpt-4o", ("openai", "gpt-4o")),
    ("gpt-4o", ("openai", "gpt-4o")),
    ("openai/ft:gpt-4o-mini:acme/voice:1", ("openai", "ft:gpt-4o-mini:acme/voice:1")),
])
def test_parse_model(setting: str | None, expected: tuple[str, str]) -> None:
    assert parse_model(setting) == expected


@pytest.mark.parametrize("setting", ["anthropic/claude-3-5-haiku", "google/gemini-2.0-flash"])
def test_other_providers_are_refused_by_name(setting: str) -> None:
    provider = setting.split("/")[0]
    with pytest.raises(SpeechError, match=f"provider '{provider}' is not supported"):
        parse_model(setting)


def test_a_provider_without_a_model_is_refused() -> None:
    with pytest.raises(SpeechError, match="names no model"):
        parse_model("openai/")


def test_built_in_prompt_speaks_for_a_phone_call_and_names_the_caller() -> None:
    [system, user] = build_messages(system_prompt=None, caller="+15550001111", transcript=[],
                                    user_message="  Hello?  ")
    assert system["role"] == "system"
    prompt = system["content"].lower()
    assert "phone call" in prompt
    assert "+15550001111" in prompt
    assert "one or two short" in prompt
    assert "no markdown" in prompt and "emoji" in prompt
    assert user == {"role": "user", "content": "Hello?"}


def test_custom_prompt_replaces_the_built_in_one_and_blank_means_built_in() -> None:
    custom = build_messages(system_prompt="Be a pirate.", caller="+1555", transcript=[],
                            user_message="Hi")
    assert custom[0] == {"role": "system", "content": "Be a pirate."}
    blank = build_messages(system_prompt="  ", caller="+1555", transcript=[], user_message="Hi")
    assert "phone call" in blank[0]["content"]


def test_transcript_becomes_alternating_history_before_the_new_utterance() -> None:
    transcript = [("bot", "Hello! How can I help?"), ("user", "What time is it?"),
                  ("bot", "It is noon."), ("user", ""), ("system", "ignored")]
    messages = build_messages(system_prompt="S", caller="+1555", transcript=transcript,
                              user_message="Thanks, bye")
    assert messages[1:] == [
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "What time is it?"},
        {"role": "assistant", "content": "It is noon."},
        {"role": "user", "content": "Thanks, bye"},
    ]


def test_the_utterance_already_at_the_transcripts_end_is_sent_once() -> None:
    transcript = [("bot", "Hi there."), ("user", "Book a table")]
    messages = build_messages(system_prompt="S", caller="+1555", transcript=transcript,
                              user_message="Book a table")
    assert [m["content"] for m in messages] == ["S", "Hi there.", "Book a table"]


def test_a_calls_objective_is_system_context_never_a_conversation_line() -> None:
    objective = "Book the 10am slot.\x0bAsk about\x00 parking."
    messages = build_messages(system_prompt="Be brief.", caller="+15550001111",
                              transcript=[("bot", "Hi!"), ("user", "Hello?")],
                              user_message="Hello?", objective=objective)
    assert [m["role"] for m in messages] == ["system", "system", "assistant", "user"]
    assert messages[0]["content"] == "Be brief."  # the configured prompt is kept as it is
    brief = messages[1]["content"]
    assert brief.endswith("Book the 10am slot. Ask about  parking.")  # no control characters
    assert "never read it out" in brief
    assert [m["content"] for m in messages[2:]] == ["Hi!", "Hello?"]


@pytest.mark.parametrize("objective", [None, "", "   "])
def test_no_objective_adds_no_message(objective: str | None) -> None:
    messages = build_messages(system_prompt=None, caller="+15550001111", transcript=[],
                              user_message="Hi", objective=objective)
    assert [m["role"] for m in messages] == ["system", "user"]


def test_realtime_instructions_carry_the_prompt_the_objective_and_the_call_so_far() -> None:
    from voicecall_cli.speech.prompts import realtime_instructions

    fresh = realtime_instructions(system_prompt=None, caller="+15550001111", objective=None,
                                  transcript=[])
    assert "+15550001111" in fresh and "call so far" not in fresh
    resumed = realtime_instructions(
        system_prompt="You book tables.", caller="+1", objective="Confirm 8 pm.",
        transcript=[("bot", "Hello!"), ("user", "Hi, a table please."), ("system", "x")])
    assert resumed.startswith("You book tables.")
    assert "Confirm 8 pm." in resumed
    assert resumed.endswith("You: Hello!\nCaller: Hi, a table please.")
