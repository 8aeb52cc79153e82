"""Strict decoding of webhook bodies, shared by the provider codecs (pure, no I/O).

Every carrier sends UTF-8: form bodies (Twilio, Plivo) percent-encode UTF-8 text, JSON bodies
(Telnyx, mock) are UTF-8 JSON. Anything else cannot be a carrier's request, so these functions
refuse it with a ``ValueError`` that says why (the webhook server answers 400 and processes
nothing) rather than guessing: no replacement characters, no UTF-16 sniffing, no lone
surrogates (which JSON's ``\\ud800`` escape and Python's codecs would otherwise let through
into the store and the event stream), no ``NaN``/``Infinity``, no nesting deep enough to
exhaust the stack.

Form bodies also decode to exactly one value per name: a name repeated with *different* values
is refused (:func:`single_values`), because a signature that sorts values (Twilio's, Plivo's
V3) covers the set of values but not which one comes last, so "last one wins" would let a
replay reorder them into a different meaning under the same signature.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote

from voicecall_cli.protocol.text import lone_surrogate

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def utf8_text(body: bytes) -> str:
    """``body`` as UTF-8 text. Raises ``ValueError`` naming the first bad byte."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"body is not UTF-8 (byte {exc.start}: {exc.reason})") from None


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """A form body's (name, value) pairs in order, blank values kept. Raises ``ValueError``
    when the body is not UTF-8, a field has no ``=``, or a percent-escape is not UTF-8."""
    text = utf8_text(body)
    if not text:
        return []
    try:
        pairs = _plain_pairs(text)
        if pairs is not None:
            return pairs
        return parse_qsl(text, keep_blank_values=True, strict_parsing=True, errors="strict")
    except UnicodeDecodeError as exc:
        raise ValueError(f"a percent-escape is not UTF-8 ({exc.reason})") from None
    except ValueError as exc:
        raise ValueError(f"body is not form data: {exc}") from None


def _plain_pairs(text: str) -> list[tuple[str, str]] | None:
    """``parse_qsl(text, keep_blank_values=True, strict_parsing=True, errors="strict")`` for
    the common body whose every field has an ``=``, faster (each name and value is unquoted
    only when it holds ``%`` or ``+``, exactly as ``parse_qsl`` unquotes it); None for any
    other body, which ``parse_qsl`` itself then parses or refuses (tests compare the two)."""
    pairs = []
    for field in text.split("&"):
        name, equals, value = field.partition("=")
        if not equals:
            return None
        if "%" in name or "+" in name:
            name = unquote(name.replace("+", " "), errors="strict")
        if "%" in value or "+" in value:
            value = unquote(value.replace("+", " "), errors="strict")
        pairs.append((name, value))
    return pairs


def single_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """One value per name. A name repeated with the same value is that value; a name repeated
    with different values raises ``ValueError`` (see the module docstring)."""
    form: dict[str, str] = {}
    for name, value in pairs:
        if form.setdefault(name, value) != value:
            raise ValueError(f"form field {name!r} is repeated with different values")
    return form


def json_body(body: bytes) -> Any:
    """The JSON document of a webhook body. Raises ``ValueError`` when the body is not UTF-8
    JSON, holds ``NaN``/``Infinity``, nests too deep, or escapes a lone surrogate."""
    text = utf8_text(body)
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("body is not JSON: nested too deep") from None
    except ValueError as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    # Text decoded from UTF-8 holds no surrogates; only a \uD800-\uDFFF escape can add one.
    if _SURROGATE_ESCAPE.search(text) and _holds_lone_surrogate(document):
        raise ValueError("body is not JSON text: it escapes a lone surrogate (\\ud800-\\udfff)")
    return document


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _holds_lone_surrogate(document: Any) -> bool:
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            strings: Iterable[Any] = (item,)
        elif isinstance(item, dict):
            strings = item.keys()
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
            continue
        else:
            continue
        if any(lone_surrogate(text) is not None for text in strings):
            return True
    return False


MAX_SECONDS_DIGITS = 9  # a recording longer than 31 years is not a duration


def whole_seconds(value: object) -> int | None:
    """A carrier's duration field as whole seconds: an int, or text of ASCII digits (a
    decimal part such as Plivo's ``"12.5"`` is dropped); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 10 ** MAX_SECONDS_DIGITS else None
    if not isinstance(value, str):
        return None
    whole = value.strip().split(".", 1)[0]
    if whole.isascii() and whole.isdigit() and len(whole) <= MAX_SECONDS_DIGITS:
        return int(whole)
    return None
