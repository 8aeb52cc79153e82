"""SentenceSplitter: streamed model text becomes speakable sentences as soon as each is complete."""

from __future__ import annotations

import pytest

from voicecall_cli.speech.sentences import SentenceSplitter, speakable


def split(pieces: list[str]) -> list[str]:
    splitter = SentenceSplitter()
    sentences: list[str] = []
    for piece in pieces:
        sentences += splitter.feed(piece)
    return sentences + splitter.flush()


def split_char_by_char(text: str) -> list[str]:
    return split(list(text))


@pytest.mark.parametrize(("text", "expected"), [
    ("Hello there. How are you?", ["Hello there.", "How are you?"]),
    ("Great! Really? Yes.", ["Great!", "Really?", "Yes."]),
    ("Dr. Smith can see you on Friday. Okay?", ["Dr. Smith can see you on Friday.", "Okay?"]),
    ("Mrs. Jones and Mr. Brown agree. Good.", ["Mrs. Jones and Mr. Brown agree.", "Good."]),
    ("It is 3.5 miles away. About 10.30 minutes.", ["It is 3.5 miles away.",
                                                   "About 10.30 minutes."]),
    ("Bring a pen, e.g. a blue one. Thanks.", ["Bring a pen, e.g. a blue one.", "Thanks."]),
    ("J. R. R. Tolkien wrote it. Yes.", ["J. R. R. Tolkien wrote it.", "Yes."]),
    ("It takes approx. two hours. Fine?", ["It takes approx. two hours.", "Fine?"]),
    ('He said "stop." Then he left.', ['He said "stop."', "Then he left."]),
    ("Well... I think so. Hmm.", ["Well...", "I think so.", "Hmm."]),
    ("No. I do not think so.", ["No.", "I do not think so."]),
    ("First line\nSecond line", ["First line", "Second line"]),
    ("Wait?! What.", ["Wait?!", "What."]),
    ("", []),
    ("   ", []),
])
def test_sentences_split_the_same_whole_or_streamed_char_by_char(text: str,
                                                                 expected: list[str]) -> None:
    assert split([text]) == expected
    assert split_char_by_char(text) == expected


def test_a_sentence_is_handed_out_as_soon_as_the_next_one_starts() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Sure, I can") == []
    assert splitter.feed(" help.") == []  # could still be "help.5" or an abbreviation
    assert splitter.feed(" ") == []  # the character after the space decides
    assert splitter.feed("What") == ["Sure, I can help."]
    assert splitter.feed(" time works?") == []
    assert splitter.flush() == ["What time works?"]
    assert splitter.flush() == []


def test_a_decimal_split_across_pieces_stays_together() -> None:
    assert split(["It costs $3.", "50 today. Okay?"]) == ["It costs $3.50 today.", "Okay?"]


def test_a_line_break_ends_a_sentence_at_once() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Here is the plan\nFirst") == ["Here is the plan"]


def test_the_remainder_is_flushed_without_a_terminator() -> None:
    assert split(["Thanks for calling"]) == ["Thanks for calling"]


def test_markdown_is_stripped_from_sentences() -> None:
    text = ("# Options\n**Sure!** Here are _two_ choices:\n1. Buy `milk`\n- Walk the dog\n"
            "---\n> See [the docs](https://example.com/x). Done")
    assert split_char_by_char(text) == [
        "Options", "Sure!", "Here are two choices:", "Buy milk", "Walk the dog",
        "See the docs.", "Done"]


def test_emoji_are_dropped_and_an_emoji_only_piece_vanishes() -> None:
    assert split(["Happy to help! 😀 See you soon. 👋"]) == ["Happy to help!", "See you soon."]


@pytest.mark.parametrize(("raw", "spoken"), [
    ("**bold** and *italic*", "bold and italic"),
    ("a snake_case name stays", "a snake_case name stays"),
    ("| a | b |", "a b"),
    ("```", ""),
    ("***", ""),
    ("2. Second item", "Second item"),
    ("  lots   of\tspace  ", "lots of space"),
])
def test_speakable(raw: str, spoken: str) -> None:
    assert speakable(raw) == spoken
