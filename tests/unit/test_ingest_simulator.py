"""The simulator: deterministic, and its truth is what "first landed copy wins" yields."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ingest.simulator import SimulatorConfig, generate, read_dropped, read_truth
from ingest.sources import is_event_file
from ingest.validate import check_line

CONFIG = SimulatorConfig(
    seed=11,
    events=3000,
    rate=20,
    files=3,
    replays=1,
    retry_rate=0.05,
    late_rate=0.02,
    disorder=0.1,
    conflict_rate=0.02,
    refund_rate=0.1,
    malformed_rate=0.02,
    number_rate=0.3,
)
AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,2})?$")


def _load_order(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if is_event_file(p))


def _first_copies(out: Path) -> tuple[dict, int, int]:
    """Replay the files in load order, keeping the first copy of each (order_id, event_id)."""
    kept: dict[tuple[str, str], dict] = {}
    conflicts: set[tuple[str, str]] = set()
    duplicates = 0
    for path in _load_order(out):
        for line in path.read_bytes().splitlines():
            if check_line(line) is not None:
                continue
            record = json.loads(line, parse_float=Decimal)
            if not str(record.get("event_id", "")).startswith("evt-"):
                continue  # the simulator's contract-breaking lines: dbt staging rejects them
            key = (record["order_id"], record["event_id"])
            if key in kept:
                duplicates += 1
                if _amount(kept[key]) != _amount(record):
                    conflicts.add(key)
                continue
            kept[key] = record
    return kept, duplicates, len(conflicts)


def _amount(record: dict) -> Decimal | None:
    return None if "amount" not in record else Decimal(str(record["amount"]))


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("sim")
    return out, generate(out, CONFIG)


def test_same_seed_same_bytes(stream, tmp_path: Path) -> None:
    out, _ = stream
    generate(tmp_path, CONFIG)
    for path in out.iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_other_seed_other_stream(stream, tmp_path: Path) -> None:
    out, _ = stream
    generate(tmp_path, SimulatorConfig(seed=12, events=3000, files=3))
    assert (tmp_path / "events-0001.jsonl").read_bytes() != (out / "events-0001.jsonl").read_bytes()


def test_truth_equals_first_landed_copies(stream) -> None:
    out, result = stream
    kept, duplicates, conflicts = _first_copies(out)
    assert len(kept) == result.events
    assert conflicts == result.conflicts > 0
    assert duplicates >= result.retries + result.conflicts + result.replayed_lines - 100
    expected: dict = defaultdict(lambda: defaultdict(Decimal))
    for record in kept.values():
        if record["event_type"] not in ("paid", "refunded"):
            continue
        at = datetime.fromisoformat(record["event_time"].replace("Z", "+00:00"))
        minute = at.astimezone(UTC).replace(second=0, microsecond=0)
        row = expected[(minute, record["currency"])]
        amount = Decimal(str(record["amount"]))
        assert AMOUNT.match(str(record["amount"]))
        if record["event_type"] == "paid":
            row["gross_paid_amount"] += amount
            row["paid_event_count"] += 1
        else:
            row["refunded_amount"] += amount
            row["refund_event_count"] += 1
    truth = read_truth(out / "truth.csv")
    assert set(truth) == set(expected)
    for key, row in truth.items():
        assert row["gross_paid_amount"] == expected[key]["gross_paid_amount"]
        assert row["refunded_amount"] == expected[key]["refunded_amount"]
        assert row["net_amount"] == row["gross_paid_amount"] - row["refunded_amount"]
        assert row["paid_event_count"] == expected[key]["paid_event_count"]
        assert row["refund_event_count"] == expected[key]["refund_event_count"]
        assert isinstance(row["net_amount"], Decimal)


def test_stream_has_the_promised_faults(stream) -> None:
    out, result = stream
    assert result.retries and result.late and result.malformed and result.replayed_lines
    text = b"".join(p.read_bytes() for p in _load_order(out))
    assert b'"amount":"' in text and re.search(rb'"amount":\d', text)  # strings and numbers
    assert b"+05:30" in text or b"-05:00" in text or b"+02:00" in text
    rejected = [line for line in text.splitlines() if check_line(line) is not None]
    assert rejected, "some malformed lines must fail at load"
    assert (out / "replay-0001.jsonl").exists() or any(out.glob("replay-*.jsonl"))


def test_event_times_are_in_the_past(stream) -> None:
    out, _ = stream
    now = datetime.now(UTC)
    for minute, _currency in read_truth(out / "truth.csv"):
        assert minute < now


def test_future_start_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="future"):
        generate(tmp_path, SimulatorConfig(start=datetime(2999, 1, 1, tzinfo=UTC)))


def test_cli_generate_writes_truth(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from countonce.cli import main_group

    result = CliRunner().invoke(
        main_group,
        ["generate", str(tmp_path / "out"), "--seed", "3", "--events", "500", "--files", "2"],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "truth.csv").exists()
    assert len(list((tmp_path / "out").glob("events-*.jsonl"))) == 2


STAMPED = SimulatorConfig(seed=5, events=2000, rate=20, files=2, producers=3, drop_rate=0.02)


def test_producers_stamp_every_event_and_the_dropped_ones_are_exactly_what_is_missing(
    tmp_path: Path,
) -> None:
    result = generate(tmp_path, STAMPED)
    lost = read_dropped(tmp_path / "dropped.csv")
    assert result.dropped == sum(len(s) for s in lost.values()) > 0
    delivered: dict[str, set[int]] = defaultdict(set)
    stamp_of: dict[str, tuple[str, int]] = {}
    for path in _load_order(tmp_path):
        for line in path.read_bytes().splitlines():
            if check_line(line) is not None or b'"evt-' not in line:
                continue
            record = json.loads(line)
            stamp = (record["producer_id"], record["sequence"])
            # Retries, conflicting re-sends and replays carry the event's own stamp.
            assert stamp_of.setdefault(record["event_id"], stamp) == stamp
            delivered[stamp[0]].add(stamp[1])
    assert len(delivered) == 3 and len(stamp_of) == result.events - result.dropped
    for producer, sequences in delivered.items():
        assert not sequences & lost.get(producer, set())
        sent = sequences | lost.get(producer, set())
        assert sent == set(range(max(sent) + 1))  # 0, 1, 2, ... each sent once
    kept, _, _ = _first_copies(tmp_path)
    assert len(kept) == result.events - result.dropped  # the truth counts what was delivered


def test_without_producers_no_event_is_stamped_or_dropped(stream) -> None:
    out, result = stream
    text = b"".join(p.read_bytes() for p in _load_order(out))
    assert b"producer_id" not in text and result.dropped == 0
    assert not (out / "dropped.csv").exists()


def test_drops_need_producers() -> None:
    with pytest.raises(ValueError, match="producers"):
        SimulatorConfig(drop_rate=0.1).validate()
