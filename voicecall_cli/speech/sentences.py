"""Cut streamed model text into speakable sentences, as early as each one is known to be complete.

A :class:`SentenceSplitter` is fed text pieces in arrival order and hands back every sentence
that is complete; :meth:`SentenceSplitter.flush` hands back what is left when the text ends.
Pure and synchronous: no I/O, nothing to close.

A sentence ends at a line break, or at ``.``, ``!``, ``?`` or ``…`` (optionally followed by
closing quotes, brackets or markdown emphasis) followed by whitespace and then a character that
is not a lowercase letter. So the splitter waits for the first character after the space before
it decides, which keeps these together:

* decimals and times ("3.5", "10.30"): no whitespace follows the point;
* known abbreviations and initials ("Dr. Smith", "e.g. this", "J. R. Smith");
* a lowercase continuation after an unknown abbreviation ("approx. two hours");
* a numbered-list marker at the start of a segment ("1. Buy milk").

Each sentence is cleaned for speech by :func:`speakable`: markdown symbols (emphasis, headings,
list markers, code ticks, link syntax, table pipes) and emoji are removed and whitespace is
collapsed; a piece that is empty after cleaning (a ``---`` rule, a code fence) is dropped.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "e.g", "i.e", "cf",
    "inc", "ltd", "co", "corp", "dept", "approx", "ave", "blvd", "rd", "apt", "est", "fig",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "a.m", "p.m", "u.s", "u.k",
})

# A sentence end candidate: terminators, closing quotes/brackets/emphasis, then whitespace.
_END = re.compile("([.!?\u2026]+)([\"')\\]\u201d\u2019*_`]*)(\\s+)")
_WORD_BEFORE_POINT = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_LIST_NUMBER = re.compile(r"\s*\d{1,3}$")

_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d]")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_LINE_PREFIX = re.compile(r"^\s*(?:#{1,6}\s*|>\s*|[-*+•]\s+|\d{1,3}[.)]\s+)+")
_RULE = re.compile(r"^\s*(?:[-*_=]\s*){3,}$")
_EMPHASIS = re.compile(r"\*+|~~|`+|(?<!\w)_+|_+(?!\w)")
_SPACES = re.compile(r"\s+")


def speakable(text: str) -> str:
    """``text`` without markdown symbols or emoji, whitespace collapsed ("" if nothing is left)."""
    if _RULE.match(text):
        return ""
    text = _LINK.sub(r"\1", text)
    text = _LINE_PREFIX.sub("", text)
    text = _EMPHASIS.sub("", text)
    text = _EMOJI.sub("", text).replace("|", " ")
    return _SPACES.sub(" ", text).strip()


class SentenceSplitter:
    """Turns a stream of text pieces into complete, speakable sentences (see the module doc)."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[str]:
        """Add the next piece of text; return the sentences it completed, in order."""
        self._pending += text
        sentences: list[str] = []
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            sentences += _split_line(line, final=True)[0]
        complete, self._pending = _split_line(self._pending, final=False)
        return sentences + complete

    def flush(self) -> list[str]:
        """The text ended: return what is left as a last sentence (or nothing), and reset."""
        sentences, _ = _split_line(self._pending, final=True)
        self._pending = ""
        return sentences


def _split_line(line: str, *, final: bool) -> tuple[list[str], str]:
    """Split one line (no ``\\n``) into sentences and the unfinished remainder.

    With ``final`` the line is known to end here, so the remainder is a sentence too.
    """
    sentences: list[str] = []
    start = 0
    search_from = 0
    while match := _END.search(line, search_from):
        search_from = match.end()
        if match.end() == len(line):
            break  # the character that decides has not arrived yet
        if not _is_boundary(line[start:match.start()], match.group(1), line[match.end()]):
            continue
        _append_speakable(sentences, line[start:match.start(3)])
        start = match.end()
    remainder = line[start:]
    if final:
        _append_speakable(sentences, remainder)
        remainder = ""
    return sentences, remainder


def _is_boundary(before: str, terminators: str, next_char: str) -> bool:
    """Whether a terminator run ends a sentence, given the text before it and what follows."""
    if next_char.islower():
        return False
    if terminators != ".":
        return True
    if _LIST_NUMBER.fullmatch(before):
        return False
    word = _WORD_BEFORE_POINT.search(before)
    if word is None:
        return True
    token = word.group(1)
    is_initial = len(token) == 1 and token.isupper()
    return not (is_initial or token.lower() in _ABBREVIATIONS)


def _append_speakable(sentences: list[str], text: str) -> None:
    cleaned = speakable(text)
    if cleaned:
        sentences.append(cleaned)
