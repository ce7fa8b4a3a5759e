"""Line validation without a database: reasons, the fast path's soundness, numeric bounds."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest import validate as v
from ingest.chunk import copy_escape

GOOD = b'{"event_id":"e1","order_id":"o1","event_type":"paid","amount":"65.00","currency":"USD"}'


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", v.EMPTY_LINE),
        (b"  \t ", v.EMPTY_LINE),
        (b'{"a":1', v.INVALID_JSON),
        (b'{"a":NaN}', v.INVALID_JSON),
        (b'{"a":-Infinity}', v.INVALID_JSON),
        (b'{"a":1} x', v.INVALID_JSON),
        (b"[1,2]", v.NOT_AN_OBJECT),
        (b'"text"', v.NOT_AN_OBJECT),
        (b"null", v.NOT_AN_OBJECT),
        (b'{"a":"\xff"}', v.INVALID_UTF8),
        (b'{"a":"\xed\xa0\x80"}', v.INVALID_UTF8),  # an encoded surrogate is not UTF-8
        (b'{"a":1,"a":2}', v.DUPLICATE_KEY),
        (b'{"x":{"a":1,"a":1}}', v.DUPLICATE_KEY),
        (b'{"a":"\\u0000"}', v.NUL_CHARACTER),
        (b'{"\\u0000":1}', v.NUL_CHARACTER),
        (b'{"a":"x\x00y"}', v.NUL_CHARACTER),
        (b'{"a":"\\ud800"}', v.INVALID_SURROGATE),
        (b'{"a":1e131072}', v.NUMBER_OUT_OF_RANGE),
        (b'{"a":1.5e-16383}', v.NUMBER_OUT_OF_RANGE),
        (b'{"a":1' + b"0" * 131072 + b"}", v.NUMBER_OUT_OF_RANGE),
        (b"[" * 5000 + b"]" * 5000, v.TOO_DEEP),
    ],
)
def test_rejections_carry_their_reason(line: bytes, reason: str) -> None:
    found = v.check_line(line)
    assert found is not None and found.reason == reason, found


@pytest.mark.parametrize(
    "line",
    [
        GOOD,
        b"{}",
        b'  {"a":1}  ',
        b'{"a":1e309,"b":123456789012345678901234567890.12,"c":1e131071,"d":0.5e-16382}',
        b'{"a":"\\\\u0000 is only text here"}',
        b'{"emoji":"\\ud83d\\ude00","tab":"\\t"}',
        b'{"nested":{"a":1,"b":[1,2,{"a":2}]},"a":3}',
        b'{"a":"comma, inside"}',
    ],
)
def test_storable_lines_pass(line: bytes) -> None:
    assert v.check_line(line) is None


@pytest.mark.parametrize(
    "line",
    [
        b'{"a":1e-400}',
        b'{"a":0e99999999}',
        b'{"a":1.5e-16383}',
        b'{"a":-0.0}',
        b'{"a":{"b":[1,0.0]}}',
        b'{"a":"\\u0000"}',
        b'{"a":1,"a":2}',
        b'{"a":"x","a":"y,"}',
        b"{}",
        b'{"a":"' + b"x" * v.SHORT_LINE + b'"}',
        b'{"a":"\xed\xa0\x80"}',
        b'{"a":"\\ud800"}',
        b"[1]",
    ],
)
def test_fast_path_defers_what_it_cannot_prove(line: bytes) -> None:
    assert v.parse_storable_fast(line) is None


def test_fast_path_accepts_a_plain_event() -> None:
    assert v.parse_storable_fast(GOOD) == json.loads(GOOD)


def test_numbers_are_never_turned_into_floats() -> None:
    # The record lands as the original text; the check only has to accept it.
    literal = "123456789012345678901234567890.12"
    assert v.check_number(literal) == literal


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
)
keys = st.sampled_from(["a", "b", "c", "a,", "d"])


def _render(value) -> str:
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return "{" + ",".join(f"{json.dumps(k)}:{_render(x)}" for k, x in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_render(x) for x in value) + "]"
    return json.dumps(str(value) if not isinstance(value, (type(None), bool, int, str)) else value)


objects = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.lists(st.tuples(keys, inner), min_size=1, max_size=4)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(keys, objects), max_size=5))
def test_fast_path_never_accepts_what_the_full_check_rejects(pairs) -> None:
    line = _render(pairs).encode() if pairs else b"{}"
    if v.parse_storable_fast(line) is not None:
        assert v.check_line(line) is None


def test_reject_text_is_bounded_and_storable() -> None:
    text = v.reject_text(b"ab\xff\x00" + b"x" * 100, 10)
    assert text == "ab\\xff\\x00xxxxxx"
    assert "\x00" not in text


def test_copy_escape() -> None:
    assert copy_escape(b"a\\b\tc\nd\re") == b"a\\\\b\\tc\\nd\\re"
