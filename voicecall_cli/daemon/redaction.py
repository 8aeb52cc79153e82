"""Keeping configured secrets out of the daemon's log: a :class:`logging.Filter` fed from the
config's secret fields (the ones ``config show`` redacts, ``SECRET_PATHS``).

Who owns what: ``python -m voicecall_cli.daemon`` calls :func:`install` after loading the
config and before the daemon starts (:mod:`.reload` again after each reload); the filter sits on
every handler of the root logger, so every record any module logs (httpx, hypercorn, trio,
ours) is redacted as it is written, exception tracebacks included. :func:`install` also keeps
the HTTP client libraries from logging request URLs at INFO (Twilio's and Plivo's REST paths
carry the account id): the secret is not logged in the first place, and the filter is the net
below that.

What counts as a secret's appearance: the value itself, its URL-encoded form, and the
HTTP Basic credentials two secrets make (``sid:token``, base64). Values shorter than
:data:`MIN_SECRET_LEN` are not treated as secrets (they would redact ordinary words).
"""

from __future__ import annotations

import base64
import itertools
import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from voicecall_cli.core.config import REDACTED, SECRET_PATHS

MIN_SECRET_LEN = 6
QUIET_LOGGERS = ("httpx", "httpcore")  # they log every request's URL at INFO


def secret_values(config: Any) -> list[str]:
    """Every secret the config holds (its ``SECRET_PATHS`` that are set), as strings."""
    values: list[str] = []
    for path in SECRET_PATHS:
        value = config.get(path)
        if isinstance(value, str) and len(value.strip()) >= MIN_SECRET_LEN:
            values.append(value.strip())
    return values


def appearances(secrets: Iterable[str]) -> set[str]:
    """Each form in which ``secrets`` may appear in text: as given, URL-encoded, and the
    base64 of HTTP Basic credentials made of two of them."""
    given = [s for s in dict.fromkeys(secrets) if len(s) >= MIN_SECRET_LEN]
    forms: set[str] = set()
    for secret in given:
        forms.add(secret)
        forms.add(quote(secret, safe=""))
        forms.update(line for line in secret.splitlines() if len(line) >= MIN_SECRET_LEN)
    for user, password in itertools.permutations(given, 2):
        forms.add(base64.b64encode(f"{user}:{password}".encode()).decode())
    return forms


class Redactor:
    """Replaces every appearance of the given secrets in a text by ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms = sorted(appearances(secrets), key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, forms))) if forms else None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """A handler filter: the record's message (its arguments merged in) and its traceback
    leave with every secret replaced. Never drops a record."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what logging would show, redacted
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = self._redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


_active = Redactor(())


def install(config: Any, *more: Any) -> Redactor:
    """Redact the secrets of ``config`` (and of ``more`` configs: a reload's old and new) from
    every root handler's output (and quiet the HTTP client loggers); returns the redactor,
    which :func:`redact` also uses from now on."""
    global _active
    _active = Redactor([value for each in (config, *more) for value in secret_values(each)])
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactingFilter(_active))
    return _active


def redact(text: str) -> str:
    """``text`` without the installed config's secrets (for what bypasses logging: the
    one-line failure on stderr, a crash report)."""
    return _active(text)
