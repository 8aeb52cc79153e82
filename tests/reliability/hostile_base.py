"""What the hostile-webhook rounds are made of: mutations, rounds, the carrier interface and
small byte/text helpers (see :mod:`tests.reliability.hostile_webhooks` for the carriers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st

from voicecall_cli.providers.base import Capabilities, WebhookCodec

CALLER, OUR_NUMBER = "+15550003333", "+15550002222"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%/?&="
FORM_SAFE = URL_SAFE + "+"
# What callers say: any text (no surrogates: those cannot be UTF-8), prefixed per round.
WORDS = st.text(st.characters(codec="utf-8"), max_size=24)
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Mutation:
    label: str
    target: str | bytes  # the request target as sent: path and query
    body: bytes
    headers: dict[str, str]
    expect: str  # "new" | "replay" | "reject" | "tamper"


@dataclass
class Round:
    words: str  # what the genuine delivery says the caller said
    mutations: list[Mutation] = field(default_factory=list)

    def add(self, label: str, target: str | bytes, body: bytes, headers: dict[str, str],
            expect: str) -> None:
        self.mutations.append(Mutation(label, target, body, headers, expect))


class Multi(dict):
    """Form parameters as the twilio SDK reads repeated names (``getlist``)."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def multi(pairs: list[tuple[str, str]]) -> Multi:
    params = Multi()
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return params


def flip(data: bytes, index: int, replacement: int) -> bytes:
    """``data`` with the byte at ``index % len`` replaced (by a different byte)."""
    index %= len(data)
    if data[index] == replacement:
        replacement = ord("x") if replacement != ord("x") else ord("y")
    return data[:index] + bytes([replacement]) + data[index + 1:]


def other_char(alphabet: str, current: str, pick: int) -> str:
    choices = alphabet.replace(current, "")
    return choices[pick % len(choices)]


def flip_text(text: str, alphabet: str, index: int, pick: int) -> str:
    index %= len(text)
    return text[:index] + other_char(alphabet, text[index], pick) + text[index + 1:]


class Carrier:
    name: str
    per_round: int  # mutations in each round, the genuine delivery included
    capabilities = Capabilities()

    def __init__(self) -> None:
        self.rounds = 0

    def make_codec(self, endpoints, streams) -> WebhookCodec:
        raise NotImplementedError

    def opening(self) -> Mutation:
        """The genuine webhook that opens the inbound call every round speaks on."""
        raise NotImplementedError

    provider_call_id: str

    def round(self, draw: Callable) -> Round:
        raise NotImplementedError

    def next_words(self, draw: Callable) -> str:
        self.rounds += 1
        return f"r{self.rounds} {draw(WORDS)}".strip()


def not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
