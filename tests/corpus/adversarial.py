"""The adversarial corpus: one line per kind, each with the outcome the pipeline must reach.

Every line either is rejected by the loader (raw.load_rejects) or by the contract in staging
(intermediate.int_order_events_rejected) with a specific reason, or is kept with an exact
amount, or is a duplicate of an earlier line. `corpus_bytes()` writes them as one file.

Decisions recorded here, consistent with staging:
- An amount written as a JSON number in exponent form (1.234e1) is accepted at its exact
  value: jsonb keeps numbers as exact numerics, so no float is involved. An amount written
  as a string must be a plain decimal ("1.5e1" is amount_not_numeric).
- A JSON number -0.00 is the number zero (jsonb normalises it); the string "-0.00" is
  amount_negative.
- A currency is checked for its shape (three upper-case letters), not against the ISO list:
  "XYZ" is kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

BOM = b"\xef\xbb\xbf"
TIME = "2026-11-20T10:00:00Z"
MINUTE = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
OMIT = object()


@dataclass(frozen=True)
class LoadReject:
    reason: str


@dataclass(frozen=True)
class StageReject:
    reason: str


@dataclass(frozen=True)
class Kept:
    amount: Decimal | None
    currency: str | None = "USD"
    event_type: str = "paid"
    minute: datetime = MINUTE
    event_id: str | None = None  # checked exactly when given
    order_id: str | None = None


@dataclass(frozen=True)
class Duplicate:
    of: str  # the kind whose line is kept
    conflict: bool


Outcome = LoadReject | StageReject | Kept | Duplicate


@dataclass(frozen=True)
class Case:
    kind: str
    line: bytes  # without its terminator
    outcome: Outcome
    end: bytes = b"\n"
    # A known gap: the test expects `outcome` and is marked xfail with this reason.
    gap: str | None = None


def obj(kind: str, **raw: object) -> bytes:
    """A JSON object line; keyword values are raw JSON text, OMIT drops the field."""
    fields: dict[str, object] = {
        "event_id": json.dumps(f"adv-{kind}"),
        "order_id": json.dumps(f"o-{kind}"),
        "event_type": '"paid"',
        "event_time": json.dumps(TIME),
        "amount": '"1.00"',
        "currency": '"USD"',
    }
    fields.update(raw)
    body = ",".join(f'"{key}":{value}' for key, value in fields.items() if value is not OMIT)
    return ("{" + body + "}").encode()


def s(text: str) -> str:
    """A JSON string literal (non-ASCII kept as UTF-8)."""
    return json.dumps(text, ensure_ascii=False)


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def kept(amount: str | None, **kwargs) -> Kept:
    return Kept(None if amount is None else Decimal(amount), **kwargs)


SQL_INJECTION_ID = "adv-'); drop table raw.order_events; --"
SQL_INJECTION_ORDER = "o' or '1'='1"
UNICODE_ID = "adv-注文-😀-é-\u202e"
LONGEST_ID = "😀" * 128  # 128 characters, 512 bytes: the longest id allowed

CASES: tuple[Case, ...] = (
    # --- must stay first: a byte-order mark is stripped only at the start of a file
    Case("bom_at_file_start", BOM + obj("bom_at_file_start", amount='"10.00"'), kept("10.00")),
    # --- rejected by the loader
    Case(
        "truncated_json",
        b'{"event_id":"adv-truncated_json","order_id":',
        LoadReject("invalid_json"),
    ),
    Case("unquoted_keys", b'{event_id:"adv-unquoted_keys"}', LoadReject("invalid_json")),
    Case("single_quotes", b"{'event_id':'adv-single_quotes'}", LoadReject("invalid_json")),
    Case("trailing_comma", b'{"event_id":"adv-trailing_comma",}', LoadReject("invalid_json")),
    Case("trailing_garbage", obj("trailing_garbage") + b" ;", LoadReject("invalid_json")),
    Case("two_objects_on_one_line", obj("two_a") + obj("two_b"), LoadReject("invalid_json")),
    Case("bom_mid_file", BOM + obj("bom_mid_file"), LoadReject("invalid_json")),
    Case("raw_tab_inside_string", b'{"event_id":"adv-\tx"}', LoadReject("invalid_json")),
    Case("copy_end_marker", b"\\.", LoadReject("invalid_json")),
    Case(
        "leading_zero_number",
        obj("leading_zero_number", amount="01.00"),
        LoadReject("invalid_json"),
    ),
    Case("nan_amount", obj("nan_amount", amount="NaN"), LoadReject("invalid_json")),
    Case("infinity_amount", obj("infinity_amount", amount="-Infinity"), LoadReject("invalid_json")),
    Case("invalid_utf8", b'{"event_id":"adv-\xff\xfe"}', LoadReject("invalid_utf8")),
    Case("overlong_utf8_encoding", b'{"event_id":"adv-\xc0\xaf"}', LoadReject("invalid_utf8")),
    Case(
        "utf16_encoded_line", obj("utf16").decode().encode("utf-16-le"), LoadReject("nul_character")
    ),
    Case("raw_nul_byte", b'{"event_id":"adv-\x00"}', LoadReject("nul_character")),
    Case("escaped_nul", b'{"event_id":"adv-\\u0000"}', LoadReject("nul_character")),
    Case("lone_surrogate", b'{"event_id":"adv-\\ud800"}', LoadReject("invalid_surrogate")),
    Case("empty_line", b"", LoadReject("empty_line")),
    Case("whitespace_line", b" \t  \t", LoadReject("empty_line")),
    Case("ten_mb_line", obj("ten_mb_line", pad=s("x" * 10_000_000)), LoadReject("line_too_long")),
    Case("json_array", b'["adv-json_array","paid"]', LoadReject("not_an_object")),
    Case("json_number", b"42", LoadReject("not_an_object")),
    Case("json_null", b"null", LoadReject("not_an_object")),
    Case("json_string", b'"paid"', LoadReject("not_an_object")),
    Case(
        "duplicate_key",
        obj("duplicate_key")[:-1] + b',"amount":"1000.00"}',
        LoadReject("duplicate_key"),
    ),
    Case(
        "huge_exponent",
        obj("huge_exponent", amount="1e999999999"),
        LoadReject("number_out_of_range"),
    ),
    Case("nesting_100k_deep", obj("nesting_100k_deep", x=nested(100_000)), LoadReject("too_deep")),
    # --- landed, rejected by the contract in staging
    Case(
        "missing_event_id", obj("missing_event_id", event_id=OMIT), StageReject("event_id_missing")
    ),
    Case("null_event_id", obj("null_event_id", event_id="null"), StageReject("event_id_missing")),
    Case("empty_event_id", obj("empty_event_id", event_id='""'), StageReject("event_id_missing")),
    Case(
        "missing_order_id", obj("missing_order_id", order_id=OMIT), StageReject("order_id_missing")
    ),
    Case(
        "overlong_event_id",
        obj("overlong_event_id", event_id=s("e" * 129)),
        StageReject("event_id_too_long"),
    ),
    Case(
        "overlong_unicode_order_id",
        obj("overlong_unicode_order_id", order_id=s("é" * 129)),
        StageReject("order_id_too_long"),
    ),
    Case(
        "missing_event_type",
        obj("missing_event_type", event_type=OMIT),
        StageReject("event_type_missing"),
    ),
    Case(
        "unknown_event_type",
        obj("unknown_event_type", event_type='"shipped"'),
        StageReject("event_type_unknown"),
    ),
    Case(
        "upper_case_event_type",
        obj("upper_case_event_type", event_type='"PAID"'),
        StageReject("event_type_unknown"),
    ),
    Case(
        "event_type_array",
        obj("event_type_array", event_type='["paid"]'),
        StageReject("event_type_unknown"),
    ),
    Case(
        "missing_event_time",
        obj("missing_event_time", event_time=OMIT),
        StageReject("event_time_missing"),
    ),
    Case(
        "time_without_offset",
        obj("time_without_offset", event_time='"2026-11-20T10:00:00"'),
        StageReject("event_time_invalid"),
    ),
    Case(
        "impossible_date",
        obj("impossible_date", event_time='"2026-02-30T10:00:00Z"'),
        StageReject("event_time_invalid"),
    ),
    Case(
        "impossible_hour",
        obj("impossible_hour", event_time='"2026-11-20T24:00:00Z"'),
        StageReject("event_time_invalid"),
    ),
    Case(  # matches RFC 3339, but PostgreSQL holds offsets up to 15:59 only
        "offset_out_of_range",
        obj("offset_out_of_range", event_time='"2026-11-20T10:00:00+16:00"'),
        StageReject("event_time_invalid"),
    ),
    Case(
        "date_only", obj("date_only", event_time='"2026-11-20"'), StageReject("event_time_invalid")
    ),
    Case(
        "space_instead_of_t",
        obj("space_instead_of_t", event_time='"2026-11-20 10:00:00Z"'),
        StageReject("event_time_invalid"),
    ),
    Case(
        "ten_fraction_digits",
        obj("ten_fraction_digits", event_time='"2026-11-20T10:00:00.1234567891Z"'),
        StageReject("event_time_invalid"),
    ),
    Case(
        "year_zero",
        obj("year_zero", event_time='"0000-01-01T00:00:00Z"'),
        StageReject("event_time_invalid"),
    ),
    Case(
        "epoch_number",
        obj("epoch_number", event_time="1763632800"),
        StageReject("event_time_invalid"),
    ),
    Case(
        "epoch_string",
        obj("epoch_string", event_time='"1763632800"'),
        StageReject("event_time_invalid"),
    ),
    Case(
        "far_future",
        obj("far_future", event_time='"2999-01-01T00:00:00Z"'),
        StageReject("event_time_in_future"),
    ),
    Case("missing_amount", obj("missing_amount", amount=OMIT), StageReject("amount_missing")),
    Case("null_amount", obj("null_amount", amount="null"), StageReject("amount_missing")),
    Case("empty_amount", obj("empty_amount", amount='""'), StageReject("amount_missing")),
    Case("boolean_amount", obj("boolean_amount", amount="true"), StageReject("amount_not_numeric")),
    Case(
        "object_amount",
        obj("object_amount", amount='{"value":"1.00"}'),
        StageReject("amount_not_numeric"),
    ),
    Case(
        "exponent_in_string",
        obj("exponent_in_string", amount='"1.5e1"'),
        StageReject("amount_not_numeric"),
    ),
    Case("plus_sign", obj("plus_sign", amount='"+1.00"'), StageReject("amount_not_numeric")),
    Case(
        "padded_amount", obj("padded_amount", amount='" 1.00"'), StageReject("amount_not_numeric")
    ),
    Case("decimal_comma", obj("decimal_comma", amount='"1,00"'), StageReject("amount_not_numeric")),
    Case("nan_in_string", obj("nan_in_string", amount='"NaN"'), StageReject("amount_not_numeric")),
    Case(
        "negative_string", obj("negative_string", amount='"-5.00"'), StageReject("amount_negative")
    ),
    Case("negative_number", obj("negative_number", amount="-5.00"), StageReject("amount_negative")),
    Case(
        "negative_zero_string",
        obj("negative_zero_string", amount='"-0.00"'),
        StageReject("amount_negative"),
    ),
    Case(
        "three_decimals_string",
        obj("three_decimals_string", amount='"12.345"'),
        StageReject("amount_too_precise"),
    ),
    Case(
        "three_decimals_number",
        obj("three_decimals_number", amount="12.345"),
        StageReject("amount_too_precise"),
    ),
    Case(
        "third_decimal_zero",
        obj("third_decimal_zero", amount="12.340"),
        StageReject("amount_too_precise"),
    ),
    Case(
        "float_noise_digits",
        obj("float_noise_digits", amount='"0.30000000000000004"'),
        StageReject("amount_too_precise"),
    ),
    Case("amount_1e309", obj("amount_1e309", amount="1e309"), StageReject("amount_out_of_range")),
    Case(
        "amount_ten_to_twelve",
        obj("amount_ten_to_twelve", amount='"1000000000000.00"'),
        StageReject("amount_out_of_range"),
    ),
    Case(
        "twenty_digit_amount",
        obj("twenty_digit_amount", amount="12345678901234567890"),
        StageReject("amount_out_of_range"),
    ),
    Case(
        "missing_currency", obj("missing_currency", currency=OMIT), StageReject("currency_missing")
    ),
    Case(
        "lower_case_currency",
        obj("lower_case_currency", currency='"usd"'),
        StageReject("currency_invalid"),
    ),
    Case(
        "two_letter_currency",
        obj("two_letter_currency", currency='"US"'),
        StageReject("currency_invalid"),
    ),
    Case(
        "fullwidth_currency",
        obj("fullwidth_currency", currency=s("ＵＳＤ")),
        StageReject("currency_invalid"),
    ),
    Case(
        "numeric_currency", obj("numeric_currency", currency="840"), StageReject("currency_invalid")
    ),
    # --- kept, with the exact amount
    Case("crlf_line_end", obj("crlf_line_end", amount='"2.50"'), kept("2.50"), end=b"\r\n"),
    Case("number_amount", obj("number_amount", amount="65.00"), kept("65.00")),
    Case("exponent_number", obj("exponent_number", amount="1.234e1"), kept("12.34")),
    Case("negative_exponent_number", obj("negative_exponent_number", amount="5e-2"), kept("0.05")),
    Case("negative_zero_number", obj("negative_zero_number", amount="-0.00"), kept("0.00")),
    Case("integer_amount", obj("integer_amount", amount="7"), kept("7.00")),
    Case("one_decimal", obj("one_decimal", amount='"12.5"'), kept("12.50")),
    Case("leading_zeros_string", obj("leading_zeros_string", amount='"000012.50"'), kept("12.50")),
    Case(
        "largest_amount", obj("largest_amount", amount='"999999999999.99"'), kept("999999999999.99")
    ),
    Case(
        "float_unsafe_amount",
        obj("float_unsafe_amount", amount='"12345678901.23"'),
        kept("12345678901.23"),
    ),
    Case("float_unsafe_number", obj("float_unsafe_number", amount="0.10"), kept("0.10")),
    Case(
        "unknown_currency", obj("unknown_currency", currency='"XYZ"'), kept("1.00", currency="XYZ")
    ),
    Case(
        "sql_injection_ids",
        obj("sql_injection_ids", event_id=s(SQL_INJECTION_ID), order_id=s(SQL_INJECTION_ORDER)),
        kept("1.00", event_id=SQL_INJECTION_ID, order_id=SQL_INJECTION_ORDER),
    ),
    Case(
        "unicode_ids",
        obj("unicode_ids", event_id=s(UNICODE_ID), order_id=s("订单-1")),
        kept("1.00", event_id=UNICODE_ID, order_id="订单-1"),
    ),
    Case(
        "escaped_unicode_id",
        obj("escaped_unicode_id", event_id='"adv-\\u00e9\\ud83d\\ude00"'),
        kept("1.00", event_id="adv-é😀"),
    ),
    Case(
        "longest_ids",
        obj("longest_ids", event_id=s(LONGEST_ID), order_id=s("o" * 128)),
        kept("1.00", event_id=LONGEST_ID, order_id="o" * 128),
    ),
    Case(
        "refund",
        obj("refund", event_type='"refunded"', amount='"0.40"'),
        kept("0.40", event_type="refunded"),
    ),
    Case(
        "created_without_money",
        obj("created_without_money", event_type='"created"', amount=OMIT, currency=OMIT),
        kept(None, currency=None, event_type="created"),
    ),
    Case("nested_payload", obj("nested_payload", x=nested(300)), kept("1.00")),
    Case(
        "extra_fields",
        obj("extra_fields", note=s("kept verbatim"), tags='["a",{"b":null}]'),
        kept("1.00"),
    ),
    Case(
        "lower_case_t_and_z",
        obj("lower_case_t_and_z", event_time='"2026-11-20t10:00:30z"'),
        kept("1.00"),
    ),
    Case("offset_time", obj("offset_time", event_time='"2026-11-20T12:00:45+02:00"'), kept("1.00")),
    Case(
        "leap_second",
        obj("leap_second", event_time='"2025-12-31T23:59:60Z"'),
        # Counted in the minute it is stamped in, not rolled over (ingest/event_minute.py).
        kept("1.00", minute=datetime(2025, 12, 31, 23, 59, tzinfo=UTC)),
    ),
    Case(
        "nanoseconds",
        obj("nanoseconds", event_time='"2026-11-20T10:00:59.999999999Z"'),
        kept("1.00"),
    ),
    Case(
        "whitespace_around_object", b"  " + obj("whitespace_around_object") + b" \t", kept("1.00")
    ),
    Case("tabs_between_tokens", obj("tabs_between_tokens").replace(b",", b",\t"), kept("1.00")),
    Case(
        "exact_retry",
        obj("number_amount", amount="65.00"),
        Duplicate("number_amount", conflict=False),
    ),
    Case(
        "conflicting_resend",
        obj("number_amount", amount="66.00"),
        Duplicate("number_amount", conflict=True),
    ),
    Case(
        "object_as_event_id",
        obj("object_as_event_id", event_id='{"id":"adv-object"}'),
        StageReject("event_id_not_a_string"),
    ),
    Case(
        "array_as_order_id",
        obj("array_as_order_id", order_id='["o-1","o-2"]'),
        StageReject("order_id_not_a_string"),
    ),
    Case(
        "number_as_event_id",
        obj("number_as_event_id", event_id="12345"),
        StageReject("event_id_not_a_string"),
    ),
    # --- must stay last: a final line without a newline, in a file no longer written to
    Case(
        "unterminated_last_line",
        obj("unterminated_last_line", amount='"3.00"'),
        kept("3.00"),
        end=b"",
    ),
)


def corpus_bytes() -> bytes:
    return b"".join(case.line + case.end for case in CASES)


def line_numbers() -> dict[str, int]:
    """The 1-based source line of each kind."""
    return {case.kind: number for number, case in enumerate(CASES, start=1)}
