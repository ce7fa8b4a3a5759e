"""The webhook endpoint: events/s and acknowledgement latency, and a database restart mid-run.

    .venv/bin/python -m bench.bench_webhooks        # about a minute

`countonce serve` runs in its own process on 127.0.0.1 (a free port), against an embedded
PostgreSQL in a temporary directory. This process is the senders: asyncio tasks, each with a
keep-alive HTTP/1.1 connection (h11 over asyncio streams, which costs a sender about a tenth of
what httpx's client does, so the senders leave the machine's CPU to the server), that sign every
request with a Standard Webhooks secret and record when each is acknowledged. Each phase's
requests are made before its clock starts (at most --max-requests-1 / --max-requests-100),
and it ends when they run out or after --seconds, whichever comes first.

1. 1-event requests, then 100-event requests (JSON arrays): events/s and p50/p99 latency from
   sending a request to its 2xx.
2. 100-event requests while the database is stopped and started again in the middle: senders
   retry a request answered 503 (or whose connection broke) after a pause, with the same
   webhook id and body, as a webhook sender does. Afterwards every acknowledged event_id is
   looked up in raw.order_events: an acknowledged event that did not land is lost.

Targets (on this 2-core machine, senders included): >= 30k events/s with 100-event requests,
p99 <= 250 ms; 0 lost.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import h11
import psutil
import uvloop
from psycopg.conninfo import make_conninfo
from standardwebhooks.webhooks import Webhook

from bench.results import record
from countonce import db
from countonce.settings import child_environment, load_settings

REPO = Path(__file__).resolve().parent.parent
RETRY_PAUSE_SECONDS = 0.5


@dataclass
class Phase:
    name: str
    events_per_request: int
    senders: int
    seconds: float
    max_requests: int
    latencies: list[float] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)  # event ids
    statuses: dict[int, int] = field(default_factory=dict)
    retries: int = 0
    wall: float = 0.0
    cores: dict[str, float] = field(default_factory=dict)  # CPU seconds per second, by process
    # (webhook id, body, event ids) of each request, made before the clock starts
    requests: deque[tuple[str, bytes, list[str]]] = field(default_factory=deque)

    def prepare(self) -> None:
        """Every request the phase may send, so that senders only sign and send."""
        for n in range(self.max_requests):
            msg_id = f"msg_{self.name}_{n}"
            ids = [f"{msg_id}_{i}" for i in range(self.events_per_request)]
            events = [event(e, n + i) for i, e in enumerate(ids)]
            body = events[0] if len(events) == 1 else "[" + ",".join(events) + "]"
            self.requests.append((msg_id, body.encode(), ids))

    def figures(self) -> dict[str, object]:
        events = len(self.acknowledged)
        ordered = sorted(self.latencies)
        return {
            "events_per_request": self.events_per_request,
            "senders": self.senders,
            "requests": len(self.latencies),
            "events": events,
            "seconds": round(self.wall, 2),
            "events_per_second": round(events / self.wall) if self.wall else 0,
            "p50_ms": round(_quantile(ordered, 0.50) * 1000, 1),
            "p99_ms": round(_quantile(ordered, 0.99) * 1000, 1),
            "statuses": dict(sorted(self.statuses.items())),
            "retries": self.retries,
            "cores": self.cores,
        }


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# One paid event, as a sender's serialiser writes it (compact JSON).
EVENT = (
    '{{"event_id":"{id}","order_id":"o-{id}","event_type":"paid","amount":"{units}.{cents:02d}",'
    '"currency":"{currency}","event_time":"2026-11-26T10:{minute:02d}:{second:02d}Z",'
    '"customer_id":"c-{customer:05d}"}}'
)
CURRENCIES = ("USD", "EUR", "GBP")


def event(event_id: str, n: int) -> str:
    return EVENT.format(
        id=event_id,
        units=n % 997,
        cents=n % 100,
        currency=CURRENCIES[n % 3],
        minute=n // 60 % 60,
        second=n % 60,
        customer=n % 10_000,
    )


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1, opened again when it breaks."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.protocol: h11.Connection | None = None

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """(status, body); raises OSError or h11 errors when the connection breaks."""
        if self.protocol is None or self.protocol.our_state is not h11.IDLE:
            self.close()
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.protocol = h11.Connection(h11.CLIENT)
        protocol = self.protocol
        fields = [("host", f"127.0.0.1:{self.port}"), ("content-length", str(len(body)))]
        data = protocol.send(
            h11.Request(
                method=method, target=target, headers=fields + list((headers or {}).items())
            )
        )
        data += protocol.send(h11.Data(data=body)) if body else b""
        data += protocol.send(h11.EndOfMessage())
        self.writer.write(data)
        status, parts = 0, []
        while True:
            event = protocol.next_event()
            if event is h11.NEED_DATA:
                protocol.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                parts.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionResetError("the server closed the connection")
        if protocol.our_state is h11.DONE and protocol.their_state is h11.DONE:
            protocol.start_next_cycle()
        return status, b"".join(parts)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = self.protocol = None


class Sender:
    def __init__(self, port: int, secret: str) -> None:
        self.connection = Connection(port)
        self.webhook = Webhook(secret)

    def headers(self, msg_id: str, body: bytes) -> dict[str, str]:
        now = datetime.now(UTC)
        return {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.webhook.sign(msg_id, now, body.decode()),
        }

    async def run(self, phase: Phase, stop: float) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() < stop and phase.requests:
            msg_id, body, ids = phase.requests.popleft()
            while loop.time() < stop + 30:  # an unacknowledged request is sent until it lands
                started = time.perf_counter()
                try:
                    status, answer = await self.connection.request(
                        "POST", "/v1/events", body, self.headers(msg_id, body)
                    )
                except (OSError, h11.ProtocolError):
                    self.connection.close()
                    status, answer = 0, b""
                phase.statuses[status] = phase.statuses.get(status, 0) + 1
                if 200 <= status < 300:
                    phase.latencies.append(time.perf_counter() - started)
                    phase.acknowledged.extend(ids)
                    break
                if status not in (0, 429, 503):
                    raise SystemExit(f"unexpected status {status}: {answer[:300]!r}")
                phase.retries += 1
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
        self.connection.close()


class CpuMeter:
    """CPU seconds used by the server, by PostgreSQL's processes and by this process."""

    def __init__(self, server_pid: int, pgdata: Path) -> None:
        self.server = psutil.Process(server_pid)
        self.pgdata = pgdata

    def read(self) -> dict[str, float]:
        postmaster = psutil.Process(int((self.pgdata / "postmaster.pid").read_text().split()[0]))
        return {
            "server": _cpu(self.server),
            "postgres": sum(_cpu(p) for p in [postmaster, *postmaster.children(recursive=True)]),
            "senders": _cpu(psutil.Process()),
        }


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


async def run_phase(
    port: int, secret: str, phase: Phase, meter: CpuMeter | None = None, during=None
) -> Phase:
    phase.prepare()
    loop = asyncio.get_running_loop()
    before = meter.read() if meter else {}
    started = loop.time()
    stop = started + phase.seconds
    senders = [Sender(port, secret) for _ in range(phase.senders)]
    tasks = [asyncio.create_task(s.run(phase, stop)) for s in senders]
    if during is not None:
        await during()
    await asyncio.gather(*tasks)
    phase.wall = loop.time() - started
    if meter:
        after = meter.read()
        phase.cores = {k: round((after[k] - before[k]) / phase.wall, 2) for k in after}
    return phase


async def wait_until_ready(port: int, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    connection = Connection(port)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"countonce serve exited with {proc.returncode}")
        try:
            if (await connection.request("GET", "/readyz"))[0] == 200:
                connection.close()
                return
        except (OSError, h11.ProtocolError):
            connection.close()
        await asyncio.sleep(0.2)
    raise SystemExit("countonce serve did not become ready")


def landed_event_ids(params: dict[str, str], prefix: str) -> set[str]:
    with db.connect(params) as conn:
        rows = conn.execute(
            "select record ->> 'event_id' from raw.order_events where source_file like %s",
            (f"http:msg_{prefix}_%",),
        )
        return {row[0] for row in rows}


def print_phase(phase: Phase) -> None:
    f = phase.figures()
    print(
        f"{phase.name:>9}: {f['events_per_request']:>3}-event requests x {f['senders']} senders:"
        f" {f['requests']:>6,} requests, {f['events']:>8,} events in {f['seconds']:5.1f} s ="
        f" {f['events_per_second']:>7,} events/s; ack p50 {f['p50_ms']:6.1f} ms,"
        f" p99 {f['p99_ms']:6.1f} ms; statuses {f['statuses']}; cores used {f['cores']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15, help="Length of each phase.")
    parser.add_argument(
        "--max-requests-1", type=int, default=30_000, help="Bound on 1-event requests."
    )
    parser.add_argument(
        "--max-requests-100", type=int, default=6_000, help="Bound per 100-event phase."
    )
    parser.add_argument("--senders-1", type=int, default=32, help="Senders of 1-event requests.")
    parser.add_argument(
        "--senders-100", type=int, default=16, help="Senders of 100-event requests."
    )
    parser.add_argument("--outage", type=float, default=3.0, help="Seconds the database is down.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="countonce-bench-webhooks-") as home:
        settings = load_settings({"COUNTONCE_HOME": home})
        params = db.start_embedded(settings)
        try:
            run(args, home, params)
        finally:
            db.stop_embedded(settings)


def run(args: argparse.Namespace, home: str, params: dict[str, str]) -> None:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    port = free_port()
    env = child_environment(
        {
            "COUNTONCE_HOME": home,
            "COUNTONCE_DATABASE_URL": make_conninfo(**params),
            "COUNTONCE_WEBHOOK_SECRETS": secret,
            "COUNTONCE_WEBHOOK_RATE_LIMIT": "0",
        }
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "countonce", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stderr=subprocess.DEVNULL if not os.environ.get("BENCH_VERBOSE") else None,
    )
    try:
        uvloop.run(wait_until_ready(port, server))
        meter = CpuMeter(server.pid, load_settings({"COUNTONCE_HOME": home}).pgdata)
        phases = [
            Phase("single", 1, args.senders_1, args.seconds, args.max_requests_1),
            Phase("hundred", 100, args.senders_100, args.seconds, args.max_requests_100),
        ]
        for phase in phases:
            uvloop.run(run_phase(port, secret, phase, meter))
            print_phase(phase)

        async def restart() -> None:
            await asyncio.sleep(args.seconds / 3)
            down = time.perf_counter()
            await asyncio.to_thread(db.stop_embedded, load_settings({"COUNTONCE_HOME": home}))
            await asyncio.sleep(args.outage)
            # a new process: pgserver keeps one handle per process
            await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "countonce", "db", "start"],
                env={**child_environment({}), "COUNTONCE_HOME": home},
                cwd=REPO,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            print(f"  database stopped and started again: down {time.perf_counter() - down:.1f} s")

        outage = Phase("restart", 100, args.senders_100, args.seconds, args.max_requests_100)
        uvloop.run(run_phase(port, secret, outage, None, during=restart))
        print_phase(outage)
        acknowledged = set(outage.acknowledged)
        landed = landed_event_ids(params, outage.name)
        lost = acknowledged - landed
        print(
            f"  acknowledged {len(acknowledged):,} events, landed {len(landed):,}; "
            f"lost (acknowledged, not landed): {len(lost)}; landed but not acknowledged "
            f"(retried after an unknown outcome): {len(landed - acknowledged)}"
        )
        hundred = phases[1].figures()
        print(
            f"targets: {hundred['events_per_second']:,} events/s (>= 30,000), "
            f"p99 {hundred['p99_ms']} ms (<= 250) with 100-event requests; {len(lost)} lost (0)"
        )
        record(
            "webhooks",
            {
                **{phase.name: phase.figures() for phase in phases},
                "restart": {**outage.figures(), "outage_seconds": args.outage, "lost": len(lost)},
            },
        )
        if lost:
            raise SystemExit(f"{len(lost)} acknowledged events did not land")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
