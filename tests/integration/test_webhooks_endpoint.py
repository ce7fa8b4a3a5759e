"""POST /v1/events on a real server on 127.0.0.1 and a real PostgreSQL: what lands, with which
load metadata, and what is refused with which status, storing nothing."""

from __future__ import annotations

import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_webhooks_support import (
    Sender,
    as_json,
    landed,
    new_secret,
    paid,
    rejects,
    running_server,
    stored,
    with_webhooks,
)


@pytest.fixture
def secret() -> str:
    return new_secret()


@pytest.fixture
def server(settings, database, migrated, secret):
    with running_server(with_webhooks(settings, secrets=(secret,)), database) as url:
        yield url


@pytest.fixture
def sender(server, secret) -> Sender:
    return Sender(server, secret)


def test_signed_events_land_with_their_load_metadata_and_exact_numbers(sender, migrated):
    array = (
        b'[{"event_id":"a1","order_id":"o1","event_type":"paid","amount":65.10,'
        b'"currency":"USD","event_time":"2026-11-26T10:01:12Z","note":"caf\xc3\xa9"},\n'
        b' {"event_id":"a2","order_id":"o1","big":123456789012345678901234567890.12}]'
    )
    answer = sender.post("msg_array", array)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 2 and answer.json()["rejected"] == 0
    ndjson = b'{"event_id":"n1","amount":0.1}\n{"event_id":"n2","amount":1e400}\n'
    assert sender.post("msg_lines", ndjson).json()["accepted"] == 2
    assert sender.post("msg_one", paid("s1")).json()["accepted"] == 1

    rows = landed(migrated)
    second = array.index(b'{"event_id":"a2"')  # a byte offset, after a two-byte character
    assert [row[:3] for row in rows] == [
        ("http:msg_array", 1, 1),
        ("http:msg_array", 2, second),
        ("http:msg_lines", 1, 0),
        ("http:msg_lines", 2, ndjson.index(b'{"event_id":"n2"')),
        ("http:msg_one", 1, 0),
    ]
    numbers = migrated.execute(
        "select record ->> 'amount', record ->> 'big', event_minute from raw.order_events"
        " order by landing_seq"
    ).fetchall()
    assert [n[:2] for n in numbers] == [
        ("65.10", None),
        (None, "123456789012345678901234567890.12"),
        ("0.1", None),
        ("1" + "0" * 400, None),
        ("10.00", None),
    ]
    assert numbers[0][2] == datetime(2026, 11, 26, 10, 1, tzinfo=UTC)
    assert migrated.execute("select record ->> 'note' from raw.order_events").fetchone() == (
        "café",
    )
    batches = migrated.execute(
        "select load_batch_id, source_file, first_line, last_line, first_offset, end_offset,"
        " lines_read, rows_landed, rows_rejected from raw.load_batches order by load_batch_id"
    ).fetchall()
    assert [b[1:] for b in batches] == [
        ("http:msg_array", 1, 2, 0, len(array), 2, 2, 0),
        ("http:msg_lines", 1, 2, 0, len(ndjson), 2, 2, 0),
        ("http:msg_one", 1, 1, 0, len(as_json(paid("s1"))), 1, 1, 0),
    ]
    assert answer.json()["load_batch_id"] == batches[0][0]


def test_a_bad_signature_is_401_and_lands_nothing(server, sender, migrated):
    body = as_json([paid("x1")])
    now = datetime.now(UTC)
    signed = sender.headers("msg_1", body)
    cases = {
        "unknown secret": (body, Sender(server, new_secret()).headers("msg_1", body)),
        "expired": (body, sender.headers("msg_1", body, now - timedelta(minutes=6))),
        "from the future": (body, sender.headers("msg_1", body, now + timedelta(minutes=6))),
        "tampered body": (body.replace(b"10.00", b"99.00"), signed),
        "another id": (body, {**signed, "webhook-id": "msg_2"}),
        "no headers": (body, {}),
        "bad base64": (body, {**signed, "webhook-signature": "v1,not-base64!"}),
        "no version": (body, {**signed, "webhook-signature": "no-comma-here"}),
    }
    statuses = {
        case: httpx.post(sender.url, content=data, headers=headers).status_code
        for case, (data, headers) in cases.items()
    }
    assert statuses == dict.fromkeys(cases, 401)
    assert stored(migrated) == (0, 0, 0)


def test_a_rotated_secret_works_with_the_old_and_the_new_one(settings, database, migrated):
    old, new = new_secret(), new_secret()
    with running_server(with_webhooks(settings, secrets=(old, new)), database) as url:
        assert Sender(url, old).post("msg_old", paid("e-old")).status_code == 200
        assert Sender(url, new).post("msg_new", paid("e-new")).status_code == 200
        assert Sender(url, new_secret()).post("msg_x", paid("e-x")).status_code == 401
        # A sender mid-rotation signs with both; either signature is enough.
        body, now = as_json(paid("e-both")), datetime.now(UTC)
        both = Sender(url, new_secret()).headers("msg_both", body, now)
        also = Sender(url, new).headers("msg_both", body, now)
        both["webhook-signature"] += " " + also["webhook-signature"]
        assert httpx.post(f"{url}/v1/events", content=body, headers=both).status_code == 200
    assert [row[0] for row in landed(migrated)] == ["http:msg_old", "http:msg_new", "http:msg_both"]


def test_a_body_that_is_not_json_is_400_and_stores_nothing(sender, migrated):
    bodies = [
        b"",
        b"  \n ",
        b"not json at all",
        b"<html><body>hello</body></html>\n<p>second line</p>\n",
        b'"a string"',
        b"42",
        b"null",
        b'[{"event_id":"a"},',  # a broken array is one line of invalid JSON
    ]
    statuses = {body: sender.post("msg_bad", body).status_code for body in bodies}
    latin1 = b'{"event_id":"caf\xe9"}'  # not UTF-8: no sender's library can sign it
    statuses[latin1] = unsigned_post(sender, latin1).status_code
    assert statuses == dict.fromkeys(statuses, 400)
    assert stored(migrated) == (0, 0, 0)


def unsigned_post(sender: Sender, body: bytes) -> httpx.Response:
    """A body the sender's library cannot sign (not UTF-8), with the headers of another."""
    return httpx.post(sender.url, content=body, headers=sender.headers("msg_bad", b"{}"))


def test_bad_lines_of_a_valid_request_land_as_rejects_with_their_reason(sender, migrated):
    ndjson = (
        b'{"event_id":"ok1","order_id":"o"}\n'
        b'{"event_id":"trunc\n'
        b"[1,2]\n"
        b"\n"
        b'{"a":1,"a":2}\n'
        b'{"a":"\\u0000"}\n'
        b'{"event_id":"ok2","order_id":"o"}\n'
    )
    answer = sender.post("msg_lines", ndjson)
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"load_batch_id": 0} == {
        "accepted": 2,
        "rejected": 5,
        "load_batch_id": 0,
    }
    lines = ndjson.split(b"\n")
    offset = [sum(len(line) + 1 for line in lines[:n]) for n in range(len(lines))]
    assert rejects(migrated) == [
        ("http:msg_lines", 2, offset[1], "invalid_json", '{"event_id":"trunc'),
        ("http:msg_lines", 3, offset[2], "not_an_object", "[1,2]"),
        ("http:msg_lines", 4, offset[3], "empty_line", ""),
        ("http:msg_lines", 5, offset[4], "duplicate_key", '{"a":1,"a":2}'),
        ("http:msg_lines", 6, offset[5], "nul_character", '{"a":"\\u0000"}'),
    ]
    assert [row[1] for row in landed(migrated)] == [1, 7]
    assert migrated.execute(
        "select lines_read, rows_landed, rows_rejected from raw.load_batches"
    ).fetchall() == [(7, 2, 5)]


def test_elements_of_an_array_that_are_not_events_land_as_rejects(sender, migrated):
    array = b'[{"event_id":"ok"}, 5, "text", [1], null, {"a":1,"a":2}]'
    answer = sender.post("msg_array", array)
    assert answer.json()["accepted"] == 1 and answer.json()["rejected"] == 5
    assert [(r[1], r[2], r[3], r[4]) for r in rejects(migrated)] == [
        (2, array.index(b"5"), "not_an_object", "5"),
        (3, array.index(b'"text"'), "not_an_object", '"text"'),
        (4, array.index(b"[1]"), "not_an_object", "[1]"),
        (5, array.index(b"null"), "not_an_object", "null"),
        (6, array.index(b'{"a"'), "duplicate_key", '{"a":1,"a":2}'),
    ]


def test_an_empty_array_is_acknowledged_and_stores_nothing(sender, migrated):
    answer = sender.post("msg_empty", b"[ ]")
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 0, "rejected": 0, "load_batch_id": None}
    assert stored(migrated) == (0, 0, 0)


def test_over_the_limits_is_413_and_stores_nothing(settings, database, migrated, secret):
    limited = with_webhooks(settings, secrets=(secret,), max_body_bytes=4096, max_events=3)
    with running_server(limited, database) as url:
        sender = Sender(url, secret)
        assert (
            sender.post("msg_big", [paid(f"e{i}", note="x" * 1500) for i in range(3)]).status_code
            == 413
        )
        assert sender.post("msg_many", [paid(f"e{i}") for i in range(4)]).status_code == 413
        many_lines = b"".join(as_json(paid(f"e{i}")) + b"\n" for i in range(4))
        assert sender.post("msg_lines", many_lines).status_code == 413
        # No Content-Length: a chunked body is cut off once it passes the limit.
        assert raw_request(url, [b"x" * 1024] * 8, headers=sender.headers("m", b"")) == 413
        assert sender.post("msg_ok", [paid(f"e{i}") for i in range(3)]).status_code == 200
    assert stored(migrated) == (3, 0, 1)


def raw_request(
    url: str,
    parts: list[bytes],
    *,
    headers: dict[str, str],
    chunked: bool = True,
    length: int | None = None,
    pause: float = 0.0,
) -> int:
    """Send a POST piece by piece on a plain socket until the server answers; its status."""
    port = int(url.rsplit(":", 1)[1])
    lines = [b"POST /v1/events HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [f"{k}: {v}".encode() for k, v in headers.items()]
    lines.append(b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % length)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        for part in parts:
            if select.select([sock], [], [], 0)[0]:  # answered before the body's end
                break
            sock.sendall(b"%x\r\n%b\r\n" % (len(part), part) if chunked else part)
            time.sleep(pause)
        answer = sock.recv(4096)
    return int(answer.split(b" ", 2)[1])


def test_a_slow_or_endless_body_times_out(settings, database, migrated, secret):
    slow = with_webhooks(settings, secrets=(secret,), body_timeout_seconds=1)
    with running_server(slow, database) as url:
        headers = Sender(url, secret).headers("msg_slow", b"")
        started = time.monotonic()
        # Content-Length promises 1000 bytes; 20 arrive, then nothing.
        part = b'[{"event_id":"slow"}'
        assert raw_request(url, [part], headers=headers, chunked=False, length=1000) == 408
        assert time.monotonic() - started < 5
        # An endless trickle, well under the size limit.
        assert raw_request(url, [b" "] * 40, headers=headers, pause=0.05) == 408
    assert stored(migrated) == (0, 0, 0)


def test_over_the_request_rate_is_429_with_retry_after(settings, database, migrated, secret):
    with running_server(with_webhooks(settings, secrets=(secret,), rate_limit=2), database) as url:
        sender = Sender(url, secret)
        answers = [sender.post(f"msg_{i}", paid(f"e{i}")) for i in range(6)]
    statuses = [a.status_code for a in answers]
    assert statuses[:2] == [200, 200] and statuses.count(429) >= 3, statuses
    limited = next(a for a in answers if a.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert stored(migrated)[2] == statuses.count(200)


def test_an_unreachable_database_is_503_with_retry_after(settings, database, secret):
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        nowhere = {**database, "host": "127.0.0.1", "port": str(closed.getsockname()[1])}
        with running_server(with_webhooks(settings, secrets=(secret,)), nowhere) as url:
            answer = Sender(url, secret).post("msg_1", [paid("e1")])
            assert answer.status_code == 503, answer.text
            assert int(answer.headers["retry-after"]) >= 1
            assert httpx.get(f"{url}/readyz").status_code == 503
            assert httpx.get(f"{url}/healthz").status_code == 200


def test_a_commit_that_does_not_finish_in_time_is_503(settings, database, migrated, secret):
    """The request is not acknowledged; should its rows commit later, the sender's retry is a
    duplicate, never a loss."""
    patient = with_webhooks(settings, secrets=(secret,), commit_timeout_seconds=1)
    with running_server(patient, database) as url, psycopg.connect(**database) as blocker:
        blocker.execute("lock table raw.load_batches in access exclusive mode")
        answer = Sender(url, secret).post("msg_1", [paid("e1")])
        assert answer.status_code == 503, answer.text
        blocker.rollback()
        assert Sender(url, secret).post("msg_1", [paid("e1")]).status_code == 200
    # The first copy committed once the lock was gone, after its request had been answered.
    assert [row[0] for row in landed(migrated)] == ["http:msg_1"] * 2


def test_concurrent_requests_share_a_transaction_and_each_is_its_own_batch(
    settings, database, migrated, secret
):
    grouped = with_webhooks(settings, secrets=(secret,), batch_wait_ms=100)
    with running_server(grouped, database) as url:
        start = threading.Barrier(20)

        def post(n: int) -> int:
            sender = Sender(url, secret)
            start.wait()
            return sender.post(f"msg_{n}", [paid(f"e{n}-{i}") for i in range(5)]).status_code

        with ThreadPoolExecutor(20) as pool:
            assert list(pool.map(post, range(20))) == [200] * 20
    batches, transactions = migrated.execute(
        "select count(*), count(distinct xmin::text) from raw.load_batches"
    ).fetchone()
    assert batches == 20 and transactions < 10
    assert migrated.execute(
        "select count(*) from raw.order_events e join raw.load_batches b using (load_batch_id)"
        " where e.source_file = b.source_file and e.xmin::text = b.xmin::text"
    ).fetchone() == (100,)


def test_health_readiness_and_metrics(sender, server):
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server}/readyz").json() == {"status": "ready"}
    sender.post("msg_1", b'[{"event_id":"a"}, 1, {"event_id":"b"}]')
    sender.post("msg_2", b"{bad}\n{also bad}\n")
    httpx.post(sender.url, content=b"{}")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(httpx.get(f"{server}/metrics").text)
        for s in family.samples
    }
    assert samples[("countonce_webhook_requests_total", (("status", "200"),))] == 1
    assert samples[("countonce_webhook_requests_total", (("status", "400"),))] == 1
    assert samples[("countonce_webhook_requests_total", (("status", "401"),))] == 1
    assert samples[("countonce_webhook_events_landed_total", ())] == 2
    assert samples[("countonce_webhook_events_rejected_total", (("reason", "not_an_object"),))] == 1
    assert samples[("countonce_webhook_commit_seconds_count", ())] == 1
