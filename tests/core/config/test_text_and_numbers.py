"""Config values a daemon could not carry or dial: non-ASCII digits in numbers, clock times and
prefixes, and strings that are not valid UTF-8 (a JSON ``\\udce9`` escape, an environment
variable of other bytes) are config errors naming the key (issue #14 items 2 and 7)."""

from __future__ import annotations

import json

import pytest

from voicecall_cli.core.config import ConfigError, parse_config_text
from voicecall_cli.core.rails import number_allowed

from .util import HOME_ENV, TWILIO_OK, errors_of

E164 = "Expected E.164 format, e.g. +15550001234"
FULLWIDTH = "+1555555012\uff13"  # a fullwidth 3 at the end
ARABIC_INDIC = "+\u0661\u0665\u0665\u0665\u0660\u0660\u0660\u0661\u0662\u0663\u0664"


@pytest.mark.parametrize("number", [FULLWIDTH, ARABIC_INDIC])
@pytest.mark.parametrize("path", ["fromNumber", "toNumber"])
def test_numbers_with_non_ascii_digits_are_not_e164(number: str, path: str) -> None:
    assert errors_of({**TWILIO_OK, path: number}) == {path: E164}


def test_allow_lists_and_prefixes_take_ascii_digits_only() -> None:
    assert errors_of({"provider": "mock", "allowFrom": ["+15550001234", ARABIC_INDIC]}) == {
        "allowFrom[1]": E164}
    assert errors_of({"provider": "mock", "outbound": {"allowTo": ["+1\uff15\uff15\uff15"]}}
                     ) == {"outbound.allowTo[0]": "Expected an E.164 number or prefix, "
                                                  "e.g. +1555 or +44"}


def test_quiet_hours_take_ascii_digits_only() -> None:
    errors = errors_of({"provider": "mock", "outbound": {"quietHours": {
        "start": "1\u0669:00", "end": "07:00", "timezone": "UTC"}}})
    assert list(errors) == ["outbound.quietHours.start"]


def test_a_from_number_from_the_environment_names_the_variable() -> None:
    config = {k: v for k, v in TWILIO_OK.items() if k != "fromNumber"}
    env = {**HOME_ENV, "TWILIO_FROM_NUMBER": FULLWIDTH}
    assert errors_of(config, env) == {"fromNumber": f"{E164} (value from TWILIO_FROM_NUMBER)"}


def test_a_lone_surrogate_anywhere_in_the_file_is_an_error_naming_the_key() -> None:
    text = json.dumps({"provider": "mock", "toNumber": "+15550001111",
                       "inboundGreeting": "caf\udce9", "mock": {"replies": ["ok", "\ud800"]}})
    assert "\\udce9" in text  # how it is written in the file: valid JSON, not valid text
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, ".json", HOME_ENV)
    paths = {issue.path: issue.message for issue in info.value.issues}
    assert paths["inboundGreeting"].startswith("the value is not valid UTF-8 text")
    assert paths["mock.replies[1]"].startswith("the value is not valid UTF-8 text")


def test_a_secret_of_undecodable_bytes_from_the_environment_is_refused_unechoed() -> None:
    config = {k: v for k, v in TWILIO_OK.items() if k != "twilio"}
    config["twilio"] = {"accountSid": "AC" + "1" * 32}
    secret = "tok\udce9en"  # os.environ's form of the bytes b"tok\xe9en"
    errors = errors_of(config, {**HOME_ENV, "TWILIO_AUTH_TOKEN": secret})
    assert list(errors) == ["twilio.authToken"]
    assert "TWILIO_AUTH_TOKEN" in errors["twilio.authToken"] and "tok" not in errors[
        "twilio.authToken"]


@pytest.mark.parametrize("to", [FULLWIDTH, ARABIC_INDIC, "+1555\u0660001111"])
def test_allow_to_never_lets_a_non_ascii_number_through(to: str) -> None:
    assert not number_allowed(to, ("+1555", "+\u0661"))
    assert number_allowed("+15550001111", ("+1555",))


@pytest.mark.parametrize("digits", [30, 400, 5000])
@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_a_number_with_absurdly_many_digits_is_a_config_error(digits: int, suffix: str) -> None:
    big = "9" * digits
    text = (f'{{"provider": "mock", "maxDurationSeconds": {big}}}' if suffix == ".json"
            else f'provider = "mock"\nmaxDurationSeconds = {big}\n')
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, suffix, HOME_ENV)
    [issue] = info.value.issues
    assert (issue.path, issue.message) in {
        ("maxDurationSeconds", "must be an integer > 0"),
        ("<string>", "a number in the file has too many digits")}
    assert big not in str(info.value)
