"""The database restarts while senders post: every acknowledged event is in landing."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import psycopg
from test_webhooks_support import Sender, as_json, new_secret, paid, running_server, with_webhooks

SENDERS = 4
EVENTS_PER_REQUEST = 10


def test_a_database_restart_loses_no_acknowledged_event(pg_server, settings, database, migrated):
    migrated.close()  # the restart breaks every connection
    secret = new_secret()
    acknowledged: list[tuple[float, list[str]]] = []
    statuses: Counter[int] = Counter()
    stop = threading.Event()

    def send(worker: int, url: str) -> None:
        sender = Sender(url, secret)
        for n in range(10_000):
            if stop.is_set():
                return
            msg_id = f"msg_{worker}_{n}"
            ids = [f"{msg_id}_{i}" for i in range(EVENTS_PER_REQUEST)]
            body = as_json([paid(event_id) for event_id in ids])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # as a webhook sender: again until a 2xx
                try:
                    status = sender.client.post(
                        sender.url, content=body, headers=sender.headers(msg_id, body)
                    ).status_code
                except httpx.TransportError:
                    status = 0
                statuses[status] += 1
                if status == 200:
                    acknowledged.append((time.monotonic(), ids))
                    break
                time.sleep(0.1)

    with running_server(with_webhooks(settings, secrets=(secret,)), database) as url:
        threads = [threading.Thread(target=send, args=(w, url)) for w in range(SENDERS)]
        for thread in threads:
            thread.start()
        time.sleep(1)
        pg_server.stop()
        time.sleep(1)
        pg_server.start()
        restarted = time.monotonic()
        time.sleep(1.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    with psycopg.connect(**database) as conn:
        landed = {
            row[0] for row in conn.execute("select record ->> 'event_id' from raw.order_events")
        }
    acked = {event_id for _, ids in acknowledged for event_id in ids}
    assert statuses[503] > 0, statuses  # the outage was seen
    assert any(at > restarted for at, _ in acknowledged), "nothing acknowledged after the restart"
    assert acked - landed == set()  # no acknowledged event lost
