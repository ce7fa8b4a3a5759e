"""Helpers for the webhook tests: a real server on 127.0.0.1 in a thread, and a signing sender."""

from __future__ import annotations

import base64
import dataclasses
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import orjson
import psycopg
from standardwebhooks.webhooks import Webhook

from countonce.settings import Settings
from ingest.webhooks.server import make_server


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def with_webhooks(settings: Settings, **changes: object) -> Settings:
    """`settings` with webhook_<name> settings changed, e.g. with_webhooks(s, rate_limit=2)."""
    return dataclasses.replace(settings, **{f"webhook_{k}": v for k, v in changes.items()})


@contextmanager
def running_server(
    settings: Settings, params: dict[str, str], *, insecure_no_auth: bool = False
) -> Iterator[str]:
    """The base URL of `countonce serve`'s application, running in a thread until the end."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = make_server(settings, params, "127.0.0.1", port, insecure_no_auth)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the webhook server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


class Sender:
    """Signs and posts requests the way a Standard Webhooks sender does."""

    def __init__(self, base_url: str, secret: str) -> None:
        self.url = f"{base_url}/v1/events"
        self.webhook = Webhook(secret)
        self.client = httpx.Client(timeout=30)

    def headers(self, msg_id: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
        at = at or datetime.now(UTC)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self.webhook.sign(msg_id, at, body.decode()),
        }

    def post(self, msg_id: str, body: bytes | object, at: datetime | None = None) -> httpx.Response:
        """POST `body` (bytes as they are, anything else as JSON), signed for `msg_id`."""
        data = body if isinstance(body, bytes) else as_json(body)
        return self.client.post(self.url, content=data, headers=self.headers(msg_id, data, at))


def as_json(value: object) -> bytes:
    return orjson.dumps(value)


def paid(event_id: str, amount: str = "10.00", **extra: object) -> dict[str, object]:
    return {
        "event_id": event_id,
        "order_id": f"o-{event_id}",
        "event_type": "paid",
        "amount": amount,
        "currency": "USD",
        "event_time": "2026-11-26T10:01:12Z",
        **extra,
    }


def landed(conn: psycopg.Connection) -> list[tuple]:
    """(source_file, source_line, source_offset, record as text) of every landed row."""
    return conn.execute(
        "select source_file, source_line, source_offset, record::text"
        " from raw.order_events order by landing_seq"
    ).fetchall()


def rejects(conn: psycopg.Connection) -> list[tuple]:
    """(source_file, source_line, source_offset, reason, raw_text) of every reject row."""
    return conn.execute(
        "select source_file, source_line, source_offset, reason, raw_text"
        " from raw.load_rejects order by reject_id"
    ).fetchall()


def stored(conn: psycopg.Connection) -> tuple[int, int, int]:
    """How many rows landing, its rejects and its batches hold."""
    return conn.execute(
        "select (select count(*) from raw.order_events), (select count(*) from raw.load_rejects),"
        " (select count(*) from raw.load_batches)"
    ).fetchone()
