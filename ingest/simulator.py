"""A ShopFlow-like order-event stream with the faults of a real one, and its ground truth.

The simulator first decides the true history (logical events: created, paid, refunded,
cancelled), computes the true revenue per UTC minute and currency from it, and only then
decides how the history is delivered: retried sends close together, events out of order
or hours to days late, conflicting re-sends with another amount (always after the
original), whole files replayed, and broken lines. Same seed, same bytes.

With producers, every event carries its producer's id and sequence number (0, 1, 2, ... in
the order the producer sent them), and events may be lost in transit on purpose: never
delivered at all, listed in dropped.csv. truth.csv is the revenue of what was delivered,
what the warehouse can count.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

DEFAULT_START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
TRUTH_FILE = "truth.csv"
DROPPED_FILE = "dropped.csv"
DROPPED_COLUMNS = ("producer_id", "sequence", "event_id", "order_id", "event_type", "amount")
TRUTH_COLUMNS = (
    "minute",
    "currency",
    "gross_paid_amount",
    "refunded_amount",
    "net_amount",
    "paid_event_count",
    "refund_event_count",
)
CENT = Decimal("0.01")
# Offsets some producers stamp instead of Z; the truth is always per UTC minute.
_OFFSETS = (
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
)


def _option(default: object, help: str) -> object:
    """A field of the configuration; `help` is what `countonce generate --help` says of it."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SimulatorConfig:
    seed: int = _option(1, "Seed of the random generator: same seed, same bytes.")
    events: int = _option(
        10_000, "Distinct logical events to produce (before duplicates and malformed lines)."
    )
    orders: int | None = _option(None, "Distinct orders (default: about a third of --events).")
    currencies: tuple[str, ...] = _option(("USD", "EUR", "GBP"), "ISO 4217 codes.")
    rate: float = _option(50.0, "Events per second of event time.")
    start: datetime = _option(DEFAULT_START, "Event time of the first event.")
    files: int = _option(4, "Event files to write.")
    retry_rate: float = _option(0.02, "Share of events a producer sends twice, close together.")
    replays: int = _option(1, "Event files replayed whole, as an extra file.")
    late_rate: float = _option(0.01, "Share of events arriving hours or days after their time.")
    disorder: float = _option(0.05, "Share of events arriving out of order within minutes.")
    conflict_rate: float = _option(0.002, "Share of events re-sent later with another amount.")
    refund_rate: float = _option(0.05, "Share of paid orders later refunded.")
    malformed_rate: float = _option(0.001, "Share of extra lines that are broken.")
    number_rate: float = _option(0.1, "Share of amounts written as JSON numbers, not strings.")
    producers: int = _option(
        0, "Producers stamping producer_id and sequence on their events (0: none)."
    )
    drop_rate: float = _option(
        0.0, "Share of stamped events lost in transit, never delivered (see dropped.csv)."
    )

    def validate(self) -> None:
        if self.events < 1 or self.files < 1 or self.rate <= 0:
            raise ValueError("events, files and rate must be positive")
        if self.orders is not None and self.orders < 1:
            raise ValueError("orders must be positive")
        if not self.currencies or any(len(c) != 3 or not c.isupper() for c in self.currencies):
            raise ValueError("currencies must be ISO 4217 codes such as USD,EUR")
        if self.producers < 0:
            raise ValueError("producers must not be negative")
        if self.drop_rate and not self.producers:
            raise ValueError("drop_rate needs producers: an unstamped loss cannot be found")
        if not 0 <= self.replays <= self.files:
            raise ValueError("replays must be between 0 and the number of files")
        rates = (
            self.retry_rate,
            self.late_rate,
            self.disorder,
            self.conflict_rate,
            self.refund_rate,
            self.malformed_rate,
            self.number_rate,
            self.drop_rate,
        )
        if any(not 0 <= r <= 1 for r in rates):
            raise ValueError("every rate option is a share between 0 and 1")


@dataclass(slots=True)
class Event:
    event_id: str
    order_id: str
    event_type: str
    at: datetime
    customer_id: str
    amount: Decimal | None = None
    currency: str | None = None
    producer_id: str | None = None
    sequence: int | None = None


@dataclass
class GenerateResult:
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    events: int = 0
    lines: int = 0
    retries: int = 0
    conflicts: int = 0
    late: int = 0
    replayed_lines: int = 0
    malformed: int = 0
    dropped: int = 0
    truth_rows: int = 0

    def __str__(self) -> str:
        return (
            f"wrote {len(self.files)} file(s) to {self.out_dir}: {self.lines:,} lines for "
            f"{self.events:,} events ({self.retries} retries, {self.conflicts} conflicts, "
            f"{self.late} late, {self.replayed_lines:,} replayed lines, "
            f"{self.malformed} malformed, {self.dropped} dropped in transit); truth: "
            f"{self.truth_rows} minute rows"
        )


def _history(config: SimulatorConfig, rng: random.Random) -> list[Event]:
    """The true sequence of logical events, in event-time order."""
    max_orders = config.orders or max(1, config.events // 2)
    seed = config.seed
    events: list[Event] = []
    unpaid: list[Event] = []  # the created event of each order not paid yet
    paid: list[Event] = []
    created: list[Event] = []
    at = config.start

    def emit(kind: str, order: Event, amount: Decimal | None = None) -> Event:
        event = Event(
            f"evt-s{seed}-{len(events) + 1:08d}",
            order.order_id,
            kind,
            at,
            order.customer_id,
            amount,
            order.currency if amount is not None else None,
        )
        events.append(event)
        return event

    def pay(order: Event) -> None:
        paid.append(emit("paid", order, Decimal(rng.randrange(100, 50_000)) * CENT))

    refund_share = 0.45 * config.refund_rate  # refunds are refund_rate of the payments
    while len(events) < config.events:
        at += timedelta(microseconds=int(rng.expovariate(config.rate) * 1_000_000))
        roll = rng.random()
        if roll < 0.45 and unpaid:
            pay(unpaid.pop(rng.randrange(len(unpaid))))
        elif 0.45 <= roll < 0.45 + refund_share and paid:
            payment = paid.pop(rng.randrange(len(paid)))
            share = Decimal(1) if rng.random() < 0.6 else Decimal(rng.randrange(10, 100)) / 100
            emit("refunded", payment, (payment.amount * share).quantize(CENT))
        elif 0.45 + refund_share <= roll < 0.5 + refund_share and unpaid:
            emit("cancelled", unpaid.pop(rng.randrange(len(unpaid))))
        elif len(created) < max_orders:
            order = emit(
                "created",
                Event(
                    "",
                    f"o-s{seed}-{len(created) + 1:07d}",
                    "created",
                    at,
                    f"c-{rng.randrange(1, max(2, max_orders // 3)):06d}",
                ),
            )
            order.currency = rng.choice(config.currencies)  # kept for its payments
            created.append(order)
            unpaid.append(order)
        else:  # every order exists: a further payment on one of them
            pay(rng.choice(created))
    return events


def _stamp(history: list[Event], config: SimulatorConfig) -> list[Event]:
    """Give each event a producer and the producer's next sequence number; return the events
    lost in transit. Random streams of their own, so a stream without producers is the
    same bytes as before they existed."""
    if not config.producers:
        return []
    pick = random.Random(f"{config.seed}:producers")
    lose = random.Random(f"{config.seed}:drops")
    sent: dict[str, int] = defaultdict(int)
    dropped = []
    for event in history:
        producer = f"shop-s{config.seed}-p{pick.randrange(config.producers) + 1}"
        event.producer_id, event.sequence = producer, sent[producer]
        sent[producer] += 1
        if lose.random() < config.drop_rate:
            dropped.append(event)
    return dropped


def _truth(events: list[Event]) -> dict[tuple[datetime, str], dict]:
    truth: dict[tuple[datetime, str], dict] = defaultdict(
        lambda: {
            "gross_paid_amount": Decimal("0.00"),
            "refunded_amount": Decimal("0.00"),
            "paid_event_count": 0,
            "refund_event_count": 0,
        }
    )
    for event in events:
        if event.event_type not in ("paid", "refunded"):
            continue
        row = truth[(event.at.replace(second=0, microsecond=0), event.currency)]
        if event.event_type == "paid":
            row["gross_paid_amount"] += event.amount
            row["paid_event_count"] += 1
        else:
            row["refunded_amount"] += event.amount
            row["refund_event_count"] += 1
    for row in truth.values():
        row["net_amount"] = row["gross_paid_amount"] - row["refunded_amount"]
    return dict(sorted(truth.items()))


def _record(
    event: Event, rng: random.Random, config: SimulatorConfig, amount: Decimal | None = None
) -> bytes:
    # A producer writes one event's time the same way every time it sends it.
    style = random.Random(f"{config.seed}:{event.event_id}")
    at = event.at if style.random() < 0.8 else event.at.astimezone(style.choice(_OFFSETS))
    stamp = at.isoformat(timespec="milliseconds" if style.random() < 0.5 else "seconds")
    if at.utcoffset() == timedelta(0) and style.random() < 0.7:
        stamp = stamp.replace("+00:00", "Z")
    fields = {
        "event_id": event.event_id,
        "order_id": event.order_id,
        "event_type": event.event_type,
        "event_time": stamp,
        "customer_id": event.customer_id,
    }
    if event.producer_id is not None:
        fields["producer_id"], fields["sequence"] = event.producer_id, event.sequence
    text = json.dumps(fields, separators=(",", ":"))
    value = event.amount if amount is None else amount
    if value is not None:
        # Written by hand so a number literal keeps exactly two decimals.
        literal = f"{value:.2f}" if rng.random() < config.number_rate else f'"{value:.2f}"'
        text = text[:-1] + f',"amount":{literal},"currency":"{event.currency}"}}'
    return text.encode()


_BROKEN = (
    b'{"event_id":"bad","order_id":"o-bad","event_type":"paid","amount":"1.00"',  # truncated
    b'["not", "an", "object"]',
    b'{"event_id":"bad-\xff\xfe","order_id":"o-bad"}',  # invalid UTF-8
    b"",
    b'{"event_id":"bad-dup","event_id":"bad-dup2","order_id":"o-bad"}',
    b'{"event_id":"bad-nan","order_id":"o-bad","amount":NaN}',
)


def _malformed(n: int, seed: int, rng: random.Random, config: SimulatorConfig) -> bytes:
    """A broken line: half fail at load, half are JSON objects that break the contract."""
    if rng.random() < 0.5:
        return rng.choice(_BROKEN)
    at = (config.start + timedelta(seconds=rng.randrange(60))).isoformat()
    base = {
        "event_id": f"bad-s{seed}-{n:06d}",
        "order_id": f"o-bad-s{seed}",
        "event_type": "paid",
        "event_time": at,
        "amount": "10.00",
        "currency": "USD",
    }
    breakage = rng.choice(("no_id", "amount", "currency", "time", "type"))
    if breakage == "no_id":
        del base["event_id"]
    elif breakage == "amount":
        base["amount"] = "12.345"
    elif breakage == "currency":
        base["currency"] = "usd"
    elif breakage == "time":
        base["event_time"] = "yesterday"
    else:
        base["event_type"] = "shipped"
    return json.dumps(base, separators=(",", ":")).encode()


def generate(out_dir: Path, config: SimulatorConfig) -> GenerateResult:
    """Write events-NNNN.jsonl (and replay-NNNN.jsonl copies) plus truth.csv to out_dir."""
    config.validate()
    start = config.start if config.start.tzinfo else config.start.replace(tzinfo=UTC)
    config = dataclasses.replace(config, start=start)
    rng = random.Random(config.seed)
    history = _history(config, rng)
    if history[-1].at > datetime.now(UTC):
        raise ValueError(
            f"the last event time {history[-1].at.isoformat()} is in the future: "
            "use an earlier --start, a higher --rate or fewer --events"
        )
    dropped = _stamp(history, config)
    lost = {event.event_id for event in dropped}
    result = GenerateResult(out_dir, events=len(history), dropped=len(dropped))

    deliveries: list[tuple[datetime, int, bytes]] = []  # (arrival, tiebreak, line)

    def deliver(arrival: datetime, line: bytes) -> None:
        deliveries.append((arrival, len(deliveries), line))

    for event in history:
        roll = rng.random()
        if event.event_id in lost:  # every copy of it is lost, its retries too
            continue
        if roll < config.late_rate:
            delay = timedelta(seconds=rng.uniform(3600, 3 * 86400))
            result.late += 1
        elif roll < config.late_rate + config.disorder:
            delay = timedelta(seconds=rng.uniform(0, 300))
        else:
            delay = timedelta(seconds=rng.uniform(0, 1))
        arrival = event.at + delay
        deliver(arrival, _record(event, rng, config))
        if rng.random() < config.retry_rate:
            deliver(arrival + timedelta(seconds=rng.uniform(0.05, 5)), _record(event, rng, config))
            result.retries += 1
        if event.event_type == "paid" and rng.random() < config.conflict_rate:
            other = event.amount + Decimal(rng.randrange(1, 5000)) * CENT
            later = arrival + timedelta(seconds=rng.uniform(10, 3600))
            deliver(later, _record(event, rng, config, amount=other))
            result.conflicts += 1
    for n in range(int(len(history) * config.malformed_rate)):
        arrival = deliveries[rng.randrange(len(deliveries))][0]
        deliver(arrival, _malformed(n, config.seed, rng, config))
        result.malformed += 1
    deliveries.sort()

    out_dir.mkdir(parents=True, exist_ok=True)
    per_file = -(-len(deliveries) // config.files)
    contents: list[bytes] = []
    for index in range(config.files):
        part = deliveries[index * per_file : (index + 1) * per_file]
        data = b"".join(line + b"\n" for _, _, line in part)
        contents.append(data)
        path = out_dir / f"events-{index + 1:04d}.jsonl"
        path.write_bytes(data)
        result.files.append(path)
        result.lines += len(part)
    for index in sorted(rng.sample(range(config.files), config.replays)):
        path = out_dir / f"replay-{index + 1:04d}.jsonl"
        path.write_bytes(contents[index])
        result.files.append(path)
        result.replayed_lines += contents[index].count(b"\n")
    truth = _truth([event for event in history if event.event_id not in lost])
    write_truth(out_dir / TRUTH_FILE, truth)
    if config.producers:
        write_dropped(out_dir / DROPPED_FILE, dropped)
    result.truth_rows = len(truth)
    return result


def write_dropped(path: Path, dropped: list[Event]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(DROPPED_COLUMNS)
        for e in dropped:
            amount = "" if e.amount is None else f"{e.amount:.2f}"
            writer.writerow(
                [e.producer_id, e.sequence, e.event_id, e.order_id, e.event_type, amount]
            )


def read_dropped(path: Path | str) -> dict[str, set[int]]:
    """dropped.csv as {producer_id: the sequence numbers lost}."""
    lost: dict[str, set[int]] = defaultdict(set)
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            lost[row["producer_id"]].add(int(row["sequence"]))
    return dict(lost)


def write_truth(path: Path, truth: dict[tuple[datetime, str], dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRUTH_COLUMNS)
        for (minute, currency), row in truth.items():
            writer.writerow([minute.isoformat(), currency, *(row[c] for c in TRUTH_COLUMNS[2:])])


def read_truth(path: Path | str) -> dict[tuple[datetime, str], dict]:
    """truth.csv as {(minute, currency): {column: Decimal or int}} (minute aware, UTC)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    truth = {}
    for row in rows:
        key = (datetime.fromisoformat(row["minute"]).astimezone(UTC), row["currency"])
        truth[key] = {
            "gross_paid_amount": Decimal(row["gross_paid_amount"]),
            "refunded_amount": Decimal(row["refunded_amount"]),
            "net_amount": Decimal(row["net_amount"]),
            "paid_event_count": int(row["paid_event_count"]),
            "refund_event_count": int(row["refund_event_count"]),
        }
    return truth
