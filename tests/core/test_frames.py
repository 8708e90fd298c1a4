"""A websocket frame's numbers: every number a browser cannot read back is refused, whichever way
`core.frames.frame_loads` reads the text (frames with only short numbers skip the per-number
checks), and every other frame reads as JSON reads it."""

import json

import pytest

from core.errors import FrameError
from core.frames import MAX_SAFE_INTEGER, frame_loads


def frame(number: str) -> str:
    return '{"type":"state","seq":3,"payload":{"full":true,"state":{"table_mm":' + number + "}}}"


@pytest.mark.parametrize(
    "number",
    [
        "1e999",
        "-1e999",
        "1E+400",
        "100e307",  # 1e309: three digits of exponent, an infinity
        "1" + "0" * 400 + ".5",  # no exponent, past the largest float
        "-" + "9" * 400,
        str(MAX_SAFE_INTEGER + 1),
        str(-MAX_SAFE_INTEGER - 1),
        "1" + "0" * 5000,  # past Python's 4300 digits for int()
    ],
)
def test_a_number_a_browser_cannot_read_back_is_refused(number: str) -> None:
    with pytest.raises(FrameError) as refused:
        frame_loads(frame(number))
    assert refused.value.code == "malformed"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_the_constants_json_does_not_allow_are_refused(constant: str) -> None:
    with pytest.raises(FrameError, match=constant):
        frame_loads(frame(constant))


@pytest.mark.parametrize(
    "number",
    [
        "0",
        "-0",
        "42",
        "0.42",
        "-17.25",
        "1e308",
        "1.7976931348623157e308",
        "2.5e-12",
        "123456789012345",  # 15 digits: read without the checks
        str(MAX_SAFE_INTEGER),  # 16 digits: through the checks, and taken
        str(-MAX_SAFE_INTEGER),
        "0.12345678901234567",
    ],
)
def test_every_other_number_reads_as_json_reads_it(number: str) -> None:
    text = frame(number)
    read = frame_loads(text)
    assert read == json.loads(text)
    value = read["payload"]["state"]["table_mm"]
    assert type(value) is type(json.loads(number))


def test_digits_inside_a_string_only_send_the_frame_through_the_checks() -> None:
    text = '{"type":"chat","seq":1,"payload":{"text":"call 0032123456789012345 or 1e400"}}'
    assert frame_loads(text) == json.loads(text)


SURROGATE_REFUSED = (
    "Frames are JSON envelopes: a \\u escape names half of a character (a lone surrogate), "
    "which is not text."
)


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"chat","seq":1,"payload":{"text":"hi \\ud800"}}',
        '{"type":"chat","seq":1,"payload":{"text":"\\udc00 first"}}',
        '{"type":"chat","seq":1,"payload":{"\\ud83d":"a key"}}',
        # with a number that sends the text through the checks
        '{"type":"state","seq":1,"payload":{"n":1234567890123456,"s":"\\uDBFF"}}',
    ],
)
def test_half_a_character_is_refused(text: str) -> None:
    with pytest.raises(FrameError) as refused:
        frame_loads(text)
    assert (refused.value.code, str(refused.value.message)) == ("malformed", SURROGATE_REFUSED)


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ('["\\ud83d\\ude00"]', ["\U0001f600"]),  # both halves: one character
        ('["\\\\ud800"]', ["\\ud800"]),  # a backslash, then the letters
        ('[1234567890123456, "\\ud83d\\ude00"]', [1234567890123456, "\U0001f600"]),
    ],
)
def test_a_whole_character_and_an_escaped_backslash_are_text(text: str, read: list[object]) -> None:
    assert frame_loads(text) == read
