"""The database failing under a batch: the server killed, the disk full, the network gone.

Each case starts from the crash-point harness's starting state (tests/starting_state.py):
a first file processed, the next file and a replay waiting. After the outage a clean run (or
the scheduler, by itself) must end in the truth with nothing left behind (tests/truth.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from tests.conftest import REPO
from tests.pgproxy import CuttingProxy
from tests.starting_state import STEP_TIMEOUT, Clone, Start, starting_state, upstream
from tests.truth import assert_truth, fact

# Where in the reference batch's statements the server is killed: in the load, in the dbt
# build and in the checks.
SERVER_KILL_AT = (0.05, 0.5, 0.9)
TABLESPACE_MB = 48


@pytest.fixture(scope="module")
def start(pg_server, tmp_path_factory) -> Iterator[Start]:
    if not pg_server.embedded:
        pytest.skip("killing and filling the database needs the embedded server")
    with starting_state(pg_server, tmp_path_factory.mktemp("outage-start")) as state:
        yield state


@pytest.fixture
def proxy(pg_server) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(upstream(pg_server))
    yield proxy
    proxy.close()


def heal_and_check(start: Start, clone: Clone) -> None:
    code, record = clone.run(clone.env())
    assert code == 0 and record and record["status"] == "succeeded", clone.last_log()
    with psycopg.connect(**clone.params, autocommit=True) as conn:
        inbox = clone.home / ".countonce" / "inbox"
        assert_truth(conn, start.truth, [inbox / path.name for path in start.files])


def test_a_batch_heals_after_the_server_is_killed_under_it(start, pg_server, proxy, tmp_path):
    """SIGKILL of the postmaster and its backends mid-batch, then crash recovery."""
    reference = start.clone(tmp_path)
    try:
        code, _ = reference.run(reference.env(proxy))
        assert code == 0, reference.last_log()
        statements = len(proxy.statements)
    finally:
        reference.drop()
    for share in SERVER_KILL_AT:
        clone = start.clone(tmp_path)
        proxy.arm(max(1, int(statements * share)))
        proc = clone.start(clone.env(proxy))
        while not proxy.tripped.is_set() and proc.poll() is None:
            time.sleep(0.01)
        assert proxy.tripped.is_set(), f"the batch ended before {share:.0%} of its statements"
        pg_server.crash()
        proxy.sever()
        code = proc.wait(timeout=STEP_TIMEOUT)
        assert code != 0, "a batch whose server died cannot have succeeded"
        pg_server.start()
        proxy.arm(None)
        heal_and_check(start, clone)
        clone.drop()


@pytest.fixture
def small_disk(pg_server, tmp_path) -> Iterator[str]:
    """A tablespace on a tmpfs of TABLESPACE_MB: the database's files fill it, WAL does not."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    tmp_path.chmod(0o711)  # the server's user must reach the mount point
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TABLESPACE_MB}m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    name = f"small_{uuid.uuid4().hex[:8]}"
    try:
        owner = pg_server.pgdata.stat()
        os.chown(mount, owner.st_uid, owner.st_gid)
        with psycopg.connect(**pg_server.params, autocommit=True) as conn:
            conn.execute(
                sql.SQL("create tablespace {} location {}").format(
                    sql.Identifier(name), sql.Literal(str(mount))
                )
            )
        yield name
    finally:
        with psycopg.connect(**pg_server.params, autocommit=True) as conn:
            for (database,) in conn.execute(
                "select datname from pg_database where dattablespace ="
                " (select oid from pg_tablespace where spcname = %s)",
                (name,),
            ).fetchall():
                conn.execute(
                    sql.SQL("drop database {} with (force)").format(sql.Identifier(database))
                )
            conn.execute(sql.SQL("drop tablespace if exists {}").format(sql.Identifier(name)))
        subprocess.run(["umount", str(mount)], check=True)


def fill(conn: psycopg.Connection) -> None:
    """Write until the tablespace is full."""
    conn.execute("create table public.filler (pad text)")
    with pytest.raises(psycopg.errors.DiskFull):
        for _ in range(TABLESPACE_MB * 2):
            conn.execute(
                "insert into public.filler"
                " select repeat(md5(g::text), 30) from generate_series(1, 1000) as g"
            )


def landed(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "select (select count(*) from raw.order_events), (select count(*) from raw.load_batches),"
        " (select count(*) from raw.load_rejects)"
    ).fetchone()


def test_a_full_disk_stops_the_batch_with_its_cause_and_the_next_run_heals(
    start, pg_server, small_disk, tmp_path
):
    clone = start.clone(tmp_path, tablespace=small_disk)
    with psycopg.connect(**clone.params, autocommit=True) as conn:
        before, fact_before = landed(conn), fact(conn)
        fill(conn)

        code, record = clone.run(clone.env())
        assert code != 0 and record["status"] == "failed", clone.last_log()
        assert "No space left on device" in record["error"], record["error"]
        assert landed(conn) == before, "a load that failed left rows behind"
        assert fact(conn) == fact_before

        conn.execute("drop table public.filler")
        code, _ = clone.run(clone.env(), "ingest")
        assert code == 0, clone.last_log()
        assert landed(conn) != before
        fill(conn)
        code, _ = clone.run(clone.env(), "build")
        assert code != 0
        assert "No space left on device" in clone.last_log()
        assert fact(conn) == fact_before, "a build that failed changed the fact"
        conn.execute("drop table public.filler")
    heal_and_check(start, clone)
    clone.drop()


def test_the_scheduler_backs_off_through_a_network_partition_and_recovers(start, proxy, tmp_path):
    """The network between the scheduler and the database gone longer than a run."""
    clone = start.clone(tmp_path)
    proxy.arm(60)  # in the middle of the first run's load and build
    log = clone.home / "schedule.log"
    scheduler = subprocess.Popen(
        # An interval longer than the partition: the retries come from the backoff, not
        # from the schedule (a run due sooner than the next retry is not brought forward).
        [sys.executable, "-m", "countonce", "schedule", "--every", "30"],
        env=clone.env(proxy),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    try:
        deadline = time.monotonic() + 120
        while not proxy.tripped.is_set():
            assert time.monotonic() < deadline and scheduler.poll() is None, log.read_text()
            time.sleep(0.05)
        partition_ends = time.monotonic() + 15
        proxy.partition(15)
        with psycopg.connect(**clone.params, autocommit=True) as conn:
            while True:
                rows = conn.execute(
                    "select status, error, started_at from ops.pipeline_runs order by started_at"
                ).fetchall()
                if rows and rows[-1][0] == "succeeded" and time.monotonic() > partition_ends:
                    break
                assert time.monotonic() < deadline + 120, (rows, log.read_text()[-4000:])
                time.sleep(0.5)
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=30) == 0, log.read_text()[-4000:]
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
    text = log.read_text()
    assert "retrying soon" in text
    failed = [row for row in rows if row[0] == "failed"]
    assert failed, rows
    assert all("connection" in row[1] or "connect" in row[1] for row in failed), failed
    with psycopg.connect(**clone.params, autocommit=True) as conn:
        inbox = clone.home / ".countonce" / "inbox"
        assert_truth(conn, start.truth, [inbox / path.name for path in start.files])
    clone.drop()
