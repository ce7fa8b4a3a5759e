"""What the endpoint lands counts once: through dbt build, and through a scheduled batch."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from test_models_support import dbt, dbt_settings, duplicates, fact, unbalanced_batches
from test_webhooks_support import Sender, as_json, new_secret, paid, running_server, with_webhooks

from scheduler.pipeline import run_batch

MINUTE = datetime(2026, 11, 26, 10, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def dbt_work(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("dbt_webhooks")


ARRAY = (
    b'[{"event_id":"w1","order_id":"o-w1","event_type":"paid","amount":"5.25","currency":"USD",'
    b'"event_time":"2026-11-26T10:01:12Z"},\n {"event_id":"w2","order_id":"o-w2",'
    b'"event_type":"paid","amount":65.10,"currency":"USD","event_time":"2026-11-26T10:01:59Z"}]'
)
COUNTED_ONCE = {(MINUTE, "USD"): (Decimal("80.35"), 0, Decimal("80.35"), 3, 0)}


def test_signed_events_count_once_after_a_build_and_a_scheduled_batch(
    settings, database, migrated, dbt_work
):
    """Three paid events, 80.35 USD: an array whose acknowledgement was lost, so its sender
    delivered it again, and NDJSON with a bad line; then the array once more, later."""
    secret = new_secret()
    with running_server(with_webhooks(settings, secrets=(secret,)), database) as url:
        sender = Sender(url, secret)
        first, retry = sender.post("msg_1", ARRAY), sender.post("msg_1", ARRAY)
        assert first.json()["accepted"] == retry.json()["accepted"] == 2
        assert first.json()["load_batch_id"] != retry.json()["load_batch_id"]
        lines = as_json(paid("w3")) + b"\n{not json\n"
        assert sender.post("msg_2", lines).json()["rejected"] == 1

        built = dbt_settings(settings, dbt_work)
        dbt(built, database)
        assert fact(migrated) == COUNTED_ONCE
        assert sorted(row[1] for row in duplicates(migrated).values()) == ["w1", "w2"]
        assert unbalanced_batches(migrated) == []
        assert migrated.execute(
            "select source_file, load_batch_count, lines_read, lines_rejected_at_load,"
            " rows_kept, rows_duplicate, is_balanced"
            " from reconciliation.recon_conservation_by_file order by source_file"
        ).fetchall() == [
            ("http:msg_1", 2, 4, 0, 2, 2, True),
            ("http:msg_2", 1, 2, 1, 1, 0, True),
        ]

        assert sender.post("msg_1", ARRAY).status_code == 200
    record = run_batch(built, database, trigger="manual")
    assert record.status == "succeeded", record.error
    assert record.checks_failed == 0
    assert record.duplicates_absorbed == 2
    assert fact(migrated) == COUNTED_ONCE
