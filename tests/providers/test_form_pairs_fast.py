"""``bodies.form_pairs`` parses the common form body itself, faster than ``parse_qsl``; on
every generated body it gives exactly what ``parse_qsl(..., strict_parsing=True,
errors="strict")`` gives, or refuses it (ValueError) exactly when that raises."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicecall_cli.providers.bodies import form_pairs

SETTINGS = settings(max_examples=400, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
# Raw form text rich in what matters: separators, escapes (good, bad, not UTF-8), plus signs.
PIECES = st.sampled_from(["a", "B", "=", "&", "%", "%2", "%2B", "%C3%A9", "%ff", "%zz", "+",
                          " ", "é", "☎", "x=y", "&=", "=="])
RAW = st.lists(PIECES, max_size=12).map("".join)


def _reference(text: str):
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=True, errors="strict")
    except ValueError:  # UnicodeDecodeError included
        return "refused"


def _ours(text: str):
    try:
        return form_pairs(text.encode())
    except ValueError:
        return "refused"


@SETTINGS
@given(RAW)
def test_raw_form_text_parses_as_parse_qsl_does(text: str) -> None:
    expected = _reference(text) if text else []
    assert _ours(text) == expected


@SETTINGS
@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=8))
def test_encoded_forms_round_trip(pairs) -> None:
    text = urlencode(pairs)
    assert _ours(text) == _reference(text) if text else _ours(text) == []
