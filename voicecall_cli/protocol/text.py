"""The one definition of what text and phone numbers the CLI, the daemon and its config accept
(stdlib only, so the CLI's hot path, the protocol, ``core`` and the providers all share it).

* :func:`is_e164` / :func:`is_e164_prefix`: ASCII digits only. Python's ``\\d`` and
  ``str.isdigit()`` also match fullwidth (U+FF13) and Arabic-Indic (U+0661) digits, which no
  carrier dials; nothing here uses them.
* :func:`lone_surrogate`: a string decoded from bytes that were not UTF-8 (``surrogateescape``
  in ``sys.argv`` and ``os.environ``) or from a JSON ``"\\udce9"`` escape holds code points
  that cannot be encoded as UTF-8; such a string must be refused where it enters, or it breaks
  every later JSON answer, store write and log line that carries it.
* :func:`xml_safe` / :func:`xml_safe_args`: what XML 1.0 cannot carry, replaced, for every XML
  document we build (TwiML, Plivo XML) and every text a carrier speaks.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

E164_EXAMPLE = "+15550001234"
E164_MESSAGE = f"Expected E.164 format, e.g. {E164_EXAMPLE}"
# re.ASCII: [0-9] is already ASCII-only; the flag keeps any later edit to \d honest too.
_E164 = re.compile(r"\+[1-9][0-9]{1,14}", re.ASCII)
_E164_PREFIX = re.compile(r"\+[0-9]{1,15}", re.ASCII)
F = TypeVar("F", bound=Callable[..., Any])
_SURROGATE = re.compile("[\ud800-\udfff]")
# XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def is_e164(value: object) -> bool:
    """``value`` is an E.164 number: ``+``, a non-zero ASCII digit, then 1 to 14 more."""
    return isinstance(value, str) and _E164.fullmatch(value) is not None


def is_e164_prefix(value: object) -> bool:
    """``value`` is an E.164 number or the start of one (``+1555``, ``+44``), ASCII digits."""
    return isinstance(value, str) and _E164_PREFIX.fullmatch(value) is not None


def lone_surrogate(text: str) -> int | None:
    """The index of the first lone surrogate in ``text`` (not encodable as UTF-8), or None."""
    found = _SURROGATE.search(text)
    return found.start() if found else None


def without_lone_surrogates(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD: for text a trusted peer sends
    (a transcription service's JSON), which is kept rather than refused, but must still be
    storable and encodable wherever it goes next."""
    return _SURROGATE.sub("\ufffd", text)


def invalid_text_message(name: str, text: str) -> str | None:
    """Why ``text`` (the value of ``name``) is not valid Unicode text, or None when it is.
    The message names the field and the position, never the text itself."""
    index = lone_surrogate(text)
    if index is None:
        return None
    return (f"{name} is not valid UTF-8 text (an undecodable byte or a lone surrogate "
            f"at character {index + 1})")


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry (control characters other than
    tab, newline and return; lone surrogates; U+FFFE, U+FFFF) replaced by a space."""
    return _NOT_XML.sub(" ", text)


def xml_safe_args(builder: F) -> F:
    """Wrap an XML document builder so every ``str`` argument it gets (speech text, voice,
    language, URLs, tokens) is :func:`xml_safe` first: the one place the TwiML and Plivo XML
    builders make sure the documents they return are well-formed, whatever the text."""

    @functools.wraps(builder)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return builder(*(xml_safe(a) if isinstance(a, str) else a for a in args),
                       **{k: xml_safe(v) if isinstance(v, str) else v
                          for k, v in kwargs.items()})

    return wrapper  # type: ignore[return-value]
