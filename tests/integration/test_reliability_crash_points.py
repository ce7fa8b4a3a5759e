"""Every statement boundary of one batch run, cut two ways, then a clean run heals it.

The starting state: a database in which a first file was landed, built and checked (kept as
a template database and cloned for each point), and an inbox holding the next file and a
replay of the first. The batch is `countonce run`, the scheduler's path: load, dbt build,
checks, the run recorded. It reaches PostgreSQL through a proxy on 127.0.0.1
(tests/pgproxy.py) that numbers the statements: a reference run counts N. Then for each
point i in 1..N, from the same starting state, the batch is cut right after statement i,
once by SIGKILL of its whole process group and once by closing its connections (the process
lives on and handles the error). A clean `countonce run` follows, and then the fact must
equal the simulator's truth to the cent, every line be accounted for, the conservation
ledger balance, the critical checks pass, and no run, lock or unprocessed batch be left
behind (tests/truth.py).

`make test` cuts a sample of points; `make test-soak` (or --soak) cuts every one, two at a
time, and prints "N points, N survived" for each way.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Queue

import psycopg
import pytest

from tests.pgproxy import CuttingProxy
from tests.starting_state import STEP_TIMEOUT, Start, starting_state, upstream
from tests.truth import assert_truth

WAYS = ("kill", "sever")
SAMPLE_POINTS = 6  # per way, in `make test`


@pytest.fixture(scope="module")
def start(pg_server, tmp_path_factory) -> Iterator[Start]:
    with starting_state(pg_server, tmp_path_factory.mktemp("crash-start")) as state:
        yield state


@dataclass
class Cut:
    point: int
    way: str
    reached: bool = False
    statement: str = ""
    exit_code: int | None = None
    error: str | None = None
    drift_cents: int = 0
    lines: int = 0


def cut_and_heal(start: Start, root: Path, proxy: CuttingProxy, point: int, way: str) -> Cut:
    """Run the batch cut after statement `point`, then a clean run; check the outcome."""
    cut = Cut(point, way)
    clone = start.clone(root)
    try:
        proxy.arm(point)
        proc = clone.start(clone.env(proxy))
        while not proxy.tripped.is_set() and proc.poll() is None:
            time.sleep(0.01)
        cut.reached = proxy.tripped.is_set()
        if cut.reached:
            deadline = time.monotonic() + 30
            while not proxy.held.is_set() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            cut.statement = proxy.statements[point - 1][:120]
            if way == "kill" and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proxy.sever()
        cut.exit_code = proc.wait(timeout=STEP_TIMEOUT)
        proxy.arm(None)
        code, record = clone.run(clone.env())
        assert code == 0 and record and record["status"] == "succeeded", clone.last_log()
        with psycopg.connect(**clone.params, autocommit=True) as conn:
            inbox = clone.home / ".countonce" / "inbox"
            outcome = assert_truth(conn, start.truth, [inbox / path.name for path in start.files])
        cut.drift_cents, cut.lines = outcome.drift_cents, outcome.lines
    except AssertionError as exc:
        cut.error = f"{exc}\n(logs in {clone.home})"
        return cut
    clone.drop()
    shutil.rmtree(clone.home, ignore_errors=True)
    return cut


def reference_statements(start: Start, root: Path, proxy: CuttingProxy) -> list[str]:
    """The statements of one uncut batch from the starting state."""
    clone = start.clone(root)
    try:
        proxy.arm(None)
        code, record = clone.run(clone.env(proxy))
        assert code == 0 and record["status"] == "succeeded", clone.last_log()
        return list(proxy.statements)
    finally:
        clone.drop()


def points_to_cut(total: int, way: str, soak: bool) -> list[int]:
    if soak:
        return list(range(1, total + 1))
    step = max(1, total // SAMPLE_POINTS)
    offset = (step // 2) if way == "sever" else 0  # the two ways cut different points
    return list(range(1 + offset, total + 1, step))[:SAMPLE_POINTS]


@pytest.mark.slow
@pytest.mark.parametrize("way", WAYS)
def test_every_crash_point_of_a_batch_heals(start, pg_server, tmp_path, request, way) -> None:
    soak = bool(request.config.getoption("soak", default=0))
    proxies = [CuttingProxy(upstream(pg_server)) for _ in range(2 if soak else 1)]
    free: Queue[CuttingProxy] = Queue()
    for proxy in proxies:
        free.put(proxy)

    def one(point: int) -> Cut:
        proxy = free.get()
        try:
            cut = cut_and_heal(start, tmp_path, proxy, point, way)
        finally:
            free.put(proxy)
        print(f"  point {point} ({way}): {'failed' if cut.error else 'survived'}", flush=True)
        return cut

    try:
        statements = reference_statements(start, tmp_path, proxies[0])
        points = points_to_cut(len(statements), way, soak)
        with ThreadPoolExecutor(len(proxies)) as pool:
            cuts = list(pool.map(one, points))
    finally:
        for proxy in proxies:
            proxy.close()
    failed = [cut for cut in cuts if cut.error]
    reached = sum(cut.reached for cut in cuts)
    print(
        f"\ncrash points ({way}): a batch of {len(statements)} statements; "
        f"{len(cuts)} points cut ({reached} reached), {len(cuts) - len(failed)} survived; "
        f"drift {sum(cut.drift_cents for cut in cuts)} cents; "
        f"{sum(cut.lines for cut in cuts)} lines, each landed or rejected"
    )
    for cut in failed:
        print(f"  point {cut.point} after {cut.statement!r}: {cut.error}")
    assert not failed, f"{len(failed)} crash points did not heal: {[c.point for c in failed]}"
