"""The webhook endpoint's pure parts, without a server or a database: how a body becomes
rows, the rate limiter, secrets, and when the server may start."""

from __future__ import annotations

import base64
import dataclasses
import json
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from countonce.settings import load_settings
from ingest.chunk import Limits, copy_escape
from ingest.webhooks.auth import Verifier, check_secret
from ingest.webhooks.body import BadBody, TooManyEvents, parse_body
from ingest.webhooks.ratelimit import RateLimiter, retry_after
from ingest.webhooks.server import ServeRefused, check_exposure, is_loopback

LIMITS = Limits(
    max_line_bytes=1 << 20,
    reject_text_bytes=4096,
    chunk_rows=100,
    chunk_bytes=1 << 21,
    reject_buffer_bytes=sys.maxsize,
)


def parse(body: bytes, max_events: int = 100):
    return parse_body(body, body.decode(), "http:msg_1", LIMITS, max_events)


def copy_rows(body: bytes, batch_id: int = 7) -> list[list[str]]:
    rows, _ = parse(body).numbered(batch_id)
    return [line.decode().split("\t") for line in rows.split(b"\n")[:-1]]


def test_an_array_lands_each_element_as_its_own_text_and_offset():
    body = '[ {"event_id":"é","amount":1.10},\n\t{"b": [1,\n 2]} ]'.encode()
    rows = copy_rows(body)
    first = body.index(b"{")
    second = body.index(b'{"b"')
    assert rows == [
        ["7", "http:msg_1", "1", str(first), '{"event_id":"é","amount":1.10}', "\\N"],
        ["7", "http:msg_1", "2", str(second), '{"b": [1,\\n 2]}', "\\N"],
    ]


def test_ndjson_lands_lines_as_the_file_loader_does():
    body = b'\xef\xbb\xbf{"a":1}\r\n{"event_time":"2026-11-26T10:01:12+01:00"}\nnope\n'
    parsed = parse(body)
    assert (parsed.lines, parsed.landed, parsed.rejected, parsed.size) == (3, 2, 1, len(body))
    rows = copy_rows(body, 9)
    assert rows[0][2:5] == ["1", "0", '{"a":1}']
    assert rows[1][2:] == [
        "2",
        str(body.index(b'{"event_time"')),
        '{"event_time":"2026-11-26T10:01:12+01:00"}',
        "2026-11-26 09:01:00+00",
    ]
    assert [r[:5] for r in parsed.numbered(9)[1]] == [
        (9, "http:msg_1", 3, body.index(b"nope"), "invalid_json")
    ]


def test_one_object_may_span_lines():
    body = b'{\n  "event_id": "e1",\n  "amount": 0.10\n}\n'
    assert copy_rows(body)[0][2:5] == ["1", "0", '{\\n  "event_id": "e1",\\n  "amount": 0.10\\n}']


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b" \r\n\t", "empty"),
        (b'"text"', "JSON string"),
        (b"1.5", "JSON number"),
        (b"true", "JSON boolean"),
        (b"null", "JSON null"),
        (b"<xml/>", "not JSON"),
        (b"a\nb\n\n", "not JSON"),
        (b'[{"a":1}, {"b":', "not JSON"),
    ],
)
def test_refused_bodies(body, message):
    with pytest.raises(BadBody, match=message):
        parse(body)


def test_a_body_with_one_json_line_among_garbage_is_read_as_ndjson():
    parsed = parse(b"garbage\n[1]\n")
    assert (parsed.landed, [r[4] for r in parsed.rejects]) == (0, ["invalid_json", "not_an_object"])


@pytest.mark.parametrize(
    "body", [b"[" + b",".join([b"{}"] * 4) + b"]", b"{}\n" * 4, b"{}\n{}\n{}\n{}"]
)
def test_more_events_than_allowed(body):
    with pytest.raises(TooManyEvents):
        parse(body, max_events=3)
    assert parse(body, max_events=4).lines == 4


STORABLE_TEXT = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))


@given(
    st.lists(
        st.dictionaries(
            st.text(STORABLE_TEXT, min_size=1, max_size=5),
            st.one_of(
                st.text(STORABLE_TEXT, max_size=10),
                st.integers(),
                st.decimals(allow_nan=False, allow_infinity=False).map(float),
            ),
            max_size=4,
        ),
        max_size=6,
    ),
    st.sampled_from(["", " ", "\n", "\t\r\n "]),
)
def test_an_array_and_its_elements_as_ndjson_land_the_same_records(events, space):
    texts = [json.dumps(e, ensure_ascii=False) for e in events]
    array = ("[" + space + ("," + space).join(texts) + space + "]").encode()
    ndjson = "".join(t.replace("\n", "\\n") + "\n" for t in texts).encode()
    as_array = [row[4] for row in copy_rows(array)]
    assert as_array == [copy_escape(t.encode()).decode() for t in texts]
    if events:
        assert as_array == [row[4] for row in copy_rows(ndjson)]
    for (_, _, _, offset, *_), text in zip(copy_rows(array), texts, strict=True):
        assert array[int(offset) :].startswith(text.encode())


def test_the_rate_limiter_allows_one_second_of_requests_then_makes_clients_wait():
    now = [100.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") == 0.0  # each client its own bucket
    now[0] += 0.5
    assert limiter.acquire("a") == 0.0
    assert retry_after(0.01) == "1" and retry_after(2.2) == "3"
    assert RateLimiter(0).acquire("a") == 0.0


def secret_of(size: int) -> str:
    return "whsec_" + base64.b64encode(b"k" * size).decode()


def test_secrets_must_be_whsec_and_enough_random_bytes():
    check_secret(secret_of(24))
    for bad in (secret_of(16), "whsec_change-me", base64.b64encode(b"k" * 32).decode(), ""):
        with pytest.raises(ValueError, match="at least 24 random bytes"):
            check_secret(bad)
    with pytest.raises(ValueError, match="no webhook secret"):
        Verifier([])


def test_the_server_starts_signed_only_or_unsigned_on_loopback():
    with_secret = dataclasses.replace(load_settings({}), webhook_secrets=(secret_of(32),))
    without = load_settings({})
    check_exposure(with_secret, "0.0.0.0", insecure_no_auth=False)
    check_exposure(without, "127.0.0.1", insecure_no_auth=True)
    for settings, host, insecure in [
        (without, "127.0.0.1", False),
        (without, "0.0.0.0", True),
        (without, "192.168.1.10", True),
        (with_secret, "127.0.0.1", True),
    ]:
        with pytest.raises(ServeRefused):
            check_exposure(settings, host, insecure)
    assert [is_loopback(h) for h in ("localhost", "127.0.0.2", "::1", "0.0.0.0", "example")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_secrets_are_read_whitespace_separated_and_kept_out_of_repr():
    settings = load_settings({"COUNTONCE_WEBHOOK_SECRETS": " whsec_a \n whsec_b "})
    assert settings.webhook_secrets == ("whsec_a", "whsec_b")
    assert "whsec_a" not in repr(settings)
