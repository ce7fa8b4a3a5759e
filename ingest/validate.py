"""Which source lines PostgreSQL can store as a jsonb object, and why the others are rejected.

Only syntax is checked here: is the line UTF-8, one JSON object, storable in jsonb. Whether
the fields make sense (event_id present, amount a decimal...) is decided by dbt staging.
The record that lands is the original line, never a re-serialisation, so numbers keep
their exact value (jsonb numbers are exact numerics).
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

import orjson

INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
LINE_TOO_LONG = "line_too_long"
EMPTY_LINE = "empty_line"
DUPLICATE_KEY = "duplicate_key"
NUL_CHARACTER = "nul_character"
INVALID_SURROGATE = "invalid_surrogate"
NUMBER_OUT_OF_RANGE = "number_out_of_range"
TOO_DEEP = "too_deep"
# CSV only
CSV_BAD_HEADER = "csv_bad_header"
CSV_FIELD_COUNT = "csv_field_count"
INVALID_CSV = "invalid_csv"

BOM = b"\xef\xbb\xbf"
JSON_WHITESPACE = b" \t\r\n"

# PostgreSQL numeric bounds: digits before and after the decimal point.
_MAX_INT_DIGITS = 131072
_MAX_SCALE = 16383
_NUMBER = re.compile(r"-?(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class Rejection(NamedTuple):
    reason: str
    detail: str


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.rejection = Rejection(reason, detail)


def _no_constants(name: str) -> None:
    raise _Reject(INVALID_JSON, f"{name} is not valid JSON")


def check_number(text: str) -> str:
    """Reject a numeric literal that PostgreSQL's numeric type cannot hold exactly."""
    match = _NUMBER.fullmatch(text)
    if match is None:  # the JSON scanner only hands over well-formed numbers
        raise _Reject(INVALID_JSON, f"bad number {text[:40]}")
    whole, fraction, exponent = match.group(1), match.group(2) or "", match.group(3) or "0"
    if len(exponent.lstrip("+-0")) > 7:
        raise _Reject(NUMBER_OUT_OF_RANGE, f"exponent of {text[:40]} exceeds PostgreSQL numeric")
    scale = len(fraction) - int(exponent)
    significant = (whole + fraction).lstrip("0")
    if scale > _MAX_SCALE or (significant and len(significant) - scale > _MAX_INT_DIGITS):
        raise _Reject(NUMBER_OUT_OF_RANGE, f"number {text[:40]} exceeds PostgreSQL numeric")
    return text


def _checked_float(text: str) -> str:
    if len(text) > 40 or "e" in text or "E" in text:
        check_number(text)
    return text


def _unique_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Reject(DUPLICATE_KEY, f"key {key[:100]!r} appears more than once")
            seen.add(key)
    return obj


_STRICT = json.JSONDecoder(
    object_pairs_hook=_unique_pairs,
    parse_constant=_no_constants,
    parse_float=_checked_float,
    parse_int=check_number,
)


def _unstorable(value: object) -> Rejection | None:
    """A \\u0000 or a lone surrogate: valid JSON that jsonb refuses."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings = (item,)
        elif isinstance(item, dict):
            strings = item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
            continue
        else:
            continue
        for text in strings:
            found = _UNSTORABLE.search(text)
            if found is None:
                continue
            if found.group() == "\x00":
                return Rejection(NUL_CHARACTER, "\\u0000 cannot be stored in jsonb")
            return Rejection(INVALID_SURROGATE, "unpaired UTF-16 surrogate escape")
    return None


def check_line(line: bytes) -> Rejection | None:
    """Full check of one line (without its line terminator); None when it can land."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(INVALID_UTF8, f"{exc.reason} at byte {exc.start}")
    return check_text(text, line)


def check_text(text: str, line: bytes) -> Rejection | None:
    """The slow, complete path; the loader calls it only when the fast scan is not conclusive."""
    try:
        value = _STRICT.decode(text)
    except _Reject as exc:
        return exc.rejection
    except json.JSONDecodeError as exc:
        if not line.strip(JSON_WHITESPACE):
            return Rejection(EMPTY_LINE, "empty or whitespace-only line")
        nul = line.find(b"\x00")
        if nul >= 0:
            return Rejection(NUL_CHARACTER, f"raw NUL byte at byte {nul}")
        return Rejection(INVALID_JSON, str(exc))
    except RecursionError:
        return Rejection(TOO_DEEP, "nesting too deep")
    if not isinstance(value, dict):
        return Rejection(NOT_AN_OBJECT, f"a JSON {type(value).__name__}, not an object")
    return _unstorable(value)


# orjson validates far faster than json, but its numbers become floats: it only ever answers
# "storable or not sure" and never produces what is stored (the original line is). A number
# PostgreSQL's numeric cannot hold either overflows a double, which orjson refuses, or, in a
# line shorter than this, is below 1e-383 or zero, so it parses as a float zero.
SHORT_LINE = 16_000
# Values that hold no such number: orjson makes ints only of plain integer literals.
_SCALARS = frozenset({str, int, bool, type(None)})


def parse_storable_fast(line: bytes) -> dict | None:
    """The object `line` holds, when it is certainly storable as jsonb.

    None means "not sure": ask check_line. orjson refuses invalid UTF-8, raw control
    characters, lone surrogate escapes, NaN and numbers that overflow a double; see SHORT_LINE
    for the others PostgreSQL's numeric cannot hold. Duplicate keys are ruled out by counting
    commas: an object with n >= 1 distinct keys has at least n - 1 commas, one more per
    repeated key and per comma in any nested value or string, so exactly n - 1 proves there
    is no repeat. A \\u0000 escape needs the full check.
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if (
        type(value) is dict
        and line.count(b",") == len(value) - 1
        and len(line) < SHORT_LINE
        and (_SCALARS.issuperset(map(type, value.values())) or not _holds_zero_float(value))
        and (line.find(b"\\") < 0 or line.find(b"\\u0000") < 0)
    ):
        return value
    return None


def _holds_zero_float(value: dict) -> bool:
    """Whether a float equal to zero is anywhere in `value` (orjson's view of the line)."""
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
        elif type(item) is float and item == 0:
            return True
    return False


def check_and_parse(line: bytes) -> tuple[Rejection, None] | tuple[None, dict]:
    """The full check of a line the fast path was not sure about: (why not, None) or
    (None, the object)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(INVALID_UTF8, f"{exc.reason} at byte {exc.start}"), None
    why = check_text(text, line)
    if why is not None:
        return why, None
    return None, _STRICT.decode(text)


def reject_text(line: bytes, limit: int) -> str:
    """The start of a rejected line as storable text: bad bytes and NULs backslash-escaped."""
    return line[:limit].decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
