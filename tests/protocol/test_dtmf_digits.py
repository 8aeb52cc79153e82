"""What ``voicecall.dtmf`` takes as keys: exactly 1 to 64 of 0-9 * # w W, whatever else comes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicecall_cli.protocol import ApiError, DtmfRequest, ErrorCode
from voicecall_cli.protocol.messages import DTMF_CHARACTERS, MAX_DTMF_DIGITS, dtmf_problem

KEYS = "".join(sorted(DTMF_CHARACTERS))


@settings(deadline=None, derandomize=True, max_examples=300,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.one_of(st.sampled_from(KEYS), st.characters()), max_size=80))
def test_keys_are_taken_exactly_when_they_are_keys(text: str) -> None:
    valid = 0 < len(text) <= MAX_DTMF_DIGITS and all(c in DTMF_CHARACTERS for c in text)
    assert (dtmf_problem(text) is None) == valid
    try:
        request = DtmfRequest.parse({"callId": "c1", "digits": text})
    except ApiError as err:
        assert err.code is ErrorCode.BAD_REQUEST
        assert len(err.message) < 200  # never the whole input echoed back
        err.to_body()["error"]["message"].encode("utf-8")  # the answer can be sent
    else:  # the wire value is trimmed first, then checked
        assert request.digits == text.strip() and dtmf_problem(request.digits) is None


def test_every_key_and_both_pauses_are_taken() -> None:
    assert set("0123456789*#wW") == DTMF_CHARACTERS
    assert DtmfRequest.parse({"callId": "c1", "digits": KEYS}).digits == KEYS
    assert dtmf_problem("1" * MAX_DTMF_DIGITS) is None
