"""Text to raw mapping for the three file formats: TOML (stdlib ``tomllib``), JSON and JSON5.

A ``.json`` file that is not strict JSON is read as JSON5: OpenClaw writes its
``openclaw.json`` in JSON5 (comments, unquoted keys, trailing commas).

A syntax error becomes a :class:`ConfigError` whose path is the source name and whose message
gives the parser's reason with the line and column when the parser reports them. Messages
never quote file content (a secret may sit on the broken line): a parser reason that quotes a
character loses the quote, and one we do not recognise is replaced by "syntax error".
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import json5

from voicecall_cli.core.config.errors import ConfigError

SUFFIXES = (".toml", ".json", ".json5")
_JSON5_ERROR = re.compile(
    r'^<string>:(?P<line>\d+) Unexpected (?:"(?P<char>.*)"|(?P<end>end of input)) '
    r"at column (?P<col>\d+)$", re.DOTALL)
_TOML_QUOTED_CHARACTER = re.compile(r"\b(?P<what>[Ii]nvalid character|Illegal character) .*? \(at ")


def normalize_suffix(suffix: str) -> str:
    return "." + suffix.lower().lstrip(".")


def parse_text(text: str, suffix: str, source: str) -> dict[str, Any]:
    """Parse ``text`` in the format named by ``suffix`` (``.toml``, ``.json``, ``.json5``).

    Blank text is an empty configuration in every format. The top level must be an object.
    """
    kind = normalize_suffix(suffix)
    if kind not in SUFFIXES:
        raise ConfigError.single(source, f"unsupported config file type {kind!r}: "
                                         "use .toml, .json or .json5")
    if not text.strip():
        return {}
    try:
        if kind == ".toml":
            result = _parse_toml(text, source)
        elif kind == ".json":
            result = _parse_json(text, source)
        else:
            result = _parse_json5(text, source)
    except RecursionError:
        raise ConfigError.single(source, "the file is nested too deeply") from None
    except ValueError as exc:  # Python refuses to read integers of more than 4300 digits
        if "digits" not in str(exc):
            raise
        raise ConfigError.single(source, "a number in the file has too many digits") from None
    if not isinstance(result, dict):
        raise ConfigError.single(source, "the top level must be an object of keys")
    return result


def _parse_toml(text: str, source: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = _TOML_QUOTED_CHARACTER.sub(r"\g<what> (at ", str(exc))
        raise ConfigError.single(source, f"invalid TOML: {reason}") from None


def _parse_json(text: str, source: str) -> Any:
    """Strict JSON first (fast, and the usual case); JSON5 when that fails. When both fail
    the JSON5 parser's position is reported: JSON5 is a superset of JSON, so that is where the
    text stops being either."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return json5.loads(text)
    except ValueError as exc:
        raise ConfigError.single(
            source, f"invalid JSON (or JSON5): {_json5_reason(str(exc))}") from None


def _parse_json5(text: str, source: str) -> Any:
    try:
        return json5.loads(text)
    except ValueError as exc:
        raise ConfigError.single(source, f"invalid JSON5: {_json5_reason(str(exc))}") from None


def _json5_reason(message: str) -> str:
    """json5 says ``<string>:3 Unexpected "b" at column 2``: reword it, without the character.

    Any other message (json5 has a few, some quoting a value) becomes "syntax error"."""
    match = _JSON5_ERROR.match(message)
    if not match:
        return "syntax error"
    reason = "Unexpected end of input" if match["end"] else "Unexpected character"
    return f"{reason} (line {match['line']}, column {match['col']})"
