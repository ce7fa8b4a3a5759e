"""Random fault schedules over a simulated stream, then one clean `countonce run`.

Hypothesis draws a stream (retries, whole-file replays, late and out-of-order events,
refunds, conflicting re-sends, malformed lines) and a schedule of faults: the loader dying
after a COPY commits and before its offset, or in the middle of a COPY; `countonce build`
and `countonce check` SIGKILLed at random moments; two loaders on overlapping files; a
loader running during a build; the database restarted between stages. After it, a clean
`countonce run` must give the simulator's ground truth to the cent for every minute and
currency, a balanced conservation ledger and no failing critical check.

Every step is a real `countonce` process; kills are SIGKILL. The default run tries one
schedule with every fault plus a few drawn ones; `make test-soak` (COUNTONCE_SOAK=N) draws N.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, example, given, note, settings
from hypothesis import strategies as st

from countonce import db
from ingest.loader import FAULT_EXIT_CODE
from ingest.simulator import SimulatorConfig, generate, read_truth
from tests.conftest import REPO, env_for
from tests.truth import assert_truth

DEFAULT_EXAMPLES = 1
STEP_TIMEOUT = 300


@dataclass(frozen=True)
class Stream:
    seed: int
    events: int
    files: int
    replays: int
    rate: float
    retry_rate: float
    late_rate: float
    disorder: float
    conflict_rate: float
    refund_rate: float
    malformed_rate: float
    number_rate: float

    def config(self) -> SimulatorConfig:
        return SimulatorConfig(**self.__dict__)


@dataclass
class Tally:
    """What the schedules did, summed over the examples of one test run."""

    schedules: int = 0
    survived: int = 0
    faults: Counter = field(default_factory=Counter)
    drift_cents: int = 0
    lines: int = 0  # source lines of the surviving schedules, each landed or rejected
    # Schedules where a conflicting re-send landed before its original (see expected_fact),
    # and how far those facts are from the producer's truth (each difference a reported
    # conflict).
    reordered: int = 0
    reordered_cents: int = 0

    def line(self) -> str:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.faults.items()))
        return (
            f"fault schedules: {self.survived}/{self.schedules} survived; "
            f"{sum(self.faults.values())} faults injected ({kinds}); "
            f"drift {self.drift_cents} cents; {self.lines} lines, each landed or rejected; "
            f"{self.reordered} schedule(s) landed a "
            f"conflicting re-send first ({self.reordered_cents} cents from the producer's "
            "truth, every one a reported conflict)"
        )


TALLY = Tally()


def streams() -> st.SearchStrategy[Stream]:
    def build(files: int, **kwargs) -> st.SearchStrategy[Stream]:
        return st.builds(
            Stream,
            files=st.just(files),
            replays=st.integers(0, files),
            **kwargs,
        )

    rates = {
        "seed": st.integers(0, 2**31),
        "events": st.integers(40, 400),
        "rate": st.sampled_from([0.5, 2.0, 25.0]),
        "retry_rate": st.sampled_from([0.0, 0.05, 0.3]),
        "late_rate": st.sampled_from([0.0, 0.05, 0.2]),
        "disorder": st.sampled_from([0.0, 0.1, 0.5]),
        "conflict_rate": st.sampled_from([0.0, 0.05, 0.3]),
        "refund_rate": st.sampled_from([0.0, 0.1, 0.5]),
        "malformed_rate": st.sampled_from([0.0, 0.02, 0.1]),
        "number_rate": st.sampled_from([0.0, 0.5, 1.0]),
    }
    return st.integers(1, 4).flatmap(lambda files: build(files, **rates))


def steps(paths: int) -> st.SearchStrategy[tuple]:
    """One step of a schedule; file arguments are indexes into the stream's event files."""
    some = st.lists(st.integers(0, paths - 1), min_size=1, max_size=paths, unique=True)
    chunk = st.sampled_from([3, 25, 100_000])
    return st.one_of(
        st.tuples(st.just("crash_after_copy"), some, chunk),
        st.tuples(st.just("crash_mid_copy"), some),
        st.tuples(st.just("two_loaders"), some, some, st.booleans()),
        st.tuples(st.just("replay"), st.integers(0, paths - 1)),
        st.tuples(st.just("load"), some, chunk),
        st.tuples(st.just("build")),
        st.tuples(st.just("kill_build"), st.integers(5, 120).map(lambda d: d / 10)),
        st.tuples(st.just("kill_check"), st.integers(5, 100).map(lambda d: d / 10)),
        st.tuples(st.just("load_during_build"), some),
        st.tuples(st.just("restart_db")),
    )


@st.composite
def scenarios(draw, max_steps: int) -> tuple[Stream, list[tuple]]:
    stream = draw(streams())
    paths = stream.files + stream.replays
    schedule = draw(st.lists(steps(paths), min_size=1, max_size=max_steps))
    return stream, schedule


EVERY_FAULT = (
    Stream(
        seed=11,
        events=300,
        files=3,
        replays=1,
        rate=2.0,
        retry_rate=0.05,
        late_rate=0.05,
        disorder=0.1,
        conflict_rate=0.05,
        refund_rate=0.1,
        malformed_rate=0.02,
        number_rate=0.5,
    ),
    [
        ("crash_after_copy", [0, 1], 25),
        ("crash_mid_copy", [1, 2]),
        ("two_loaders", [0, 1, 2], [2, 3], True),
        ("kill_build", 7.0),
        ("restart_db",),
        ("kill_check", 6.0),
    ],
)


class Example:
    """One schedule's own database, inbox and process runner."""

    def __init__(self, pg_server, home: Path) -> None:
        self.pg_server = pg_server
        self.home = home
        self.name = f"t_fault_{uuid.uuid4().hex[:10]}"
        db.create_database(pg_server.params, self.name, template="template0")
        self.params = {**pg_server.params, "dbname": self.name}
        self.env = env_for(self.params, home / ".countonce")
        self.inbox = home / ".countonce" / "inbox"
        self.logs = home / "logs"
        self.logs.mkdir(parents=True)
        self.faults: Counter = Counter()
        self._n = 0

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        self._n += 1
        stem = self.logs / f"{self._n:02d}-{args[0]}"
        with stem.with_suffix(".out").open("w") as out, stem.with_suffix(".log").open("w") as err:
            return subprocess.Popen(
                [sys.executable, "-m", "countonce", *args],
                env={**self.env, **env},
                cwd=REPO,
                stdout=out,
                stderr=err,
            )

    def finish(self, proc: subprocess.Popen, *allowed: int) -> int:
        code = proc.wait(timeout=STEP_TIMEOUT)
        if code not in allowed:
            raise AssertionError(
                f"{' '.join(map(str, proc.args[2:]))} exited {code}:\n{self.last_log()}"
            )
        return code

    def run(self, *args: str, allowed: tuple[int, ...] = (0,), **env: str) -> int:
        return self.finish(self.start(*args, **env), *allowed)

    def kill_after(self, delay: float, *args: str) -> int | None:
        """SIGKILL the process after `delay` s; None when it was killed, else its exit code."""
        proc = self.start(*args)
        try:
            return proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return None

    def last_log(self) -> str:
        """The last process's stdout and the end of its stderr."""
        stem = self.logs / f"{self._n:02d}"
        out = next(self.logs.glob(f"{stem.name}-*.out")).read_text()
        err = next(self.logs.glob(f"{stem.name}-*.log")).read_text()
        return f"{out[-3000:]}\n--- stderr ---\n{err[-5000:]}"

    def last_stdout(self) -> str:
        return next(self.logs.glob(f"{self._n:02d}-*.out")).read_text()

    def drop(self) -> None:
        try:
            db.drop_database(self.pg_server.params, self.name)
        except db.DatabaseUnavailable:
            pass


def apply(ex: Example, step: tuple, files: list[Path]) -> None:
    kind, *args = step

    def paths(indexes: list[int]) -> list[str]:
        return [str(files[i]) for i in indexes]

    if kind in ("crash_after_copy", "crash_mid_copy"):
        point = "after-copy" if kind == "crash_after_copy" else "mid-copy"
        chunk = str(args[1]) if kind == "crash_after_copy" else "100000"
        code = ex.run(
            "ingest",
            *paths(args[0]),
            allowed=(0, FAULT_EXIT_CODE),  # 0: nothing was left to load in those files
            COUNTONCE_FAIL_AT=point,
            COUNTONCE_COPY_CHUNK_ROWS=chunk,
        )
        if code == FAULT_EXIT_CODE:
            ex.faults[kind] += 1
    elif kind == "two_loaders":
        first, second, second_replays = args
        procs = [
            ex.start("ingest", *paths(first), COUNTONCE_COPY_CHUNK_ROWS="5"),
            ex.start(
                "ingest",
                *(["--from-start"] if second_replays else []),
                *paths(second),
                COUNTONCE_COPY_CHUNK_ROWS="7",
            ),
        ]
        for proc in procs:
            ex.finish(proc, 0)
        ex.faults[kind] += 1
    elif kind == "replay":
        ex.run("ingest", "--from-start", *paths(args))
        ex.faults[kind] += 1
    elif kind == "load":
        ex.run("ingest", *paths(args[0]), COUNTONCE_COPY_CHUNK_ROWS=str(args[1]))
    elif kind == "build":
        ex.run("build")
    elif kind in ("kill_build", "kill_check"):
        command = "build" if kind == "kill_build" else "check"
        code = ex.kill_after(args[0], command)
        if code is None:
            ex.faults[kind] += 1
        elif code not in ((0,) if command == "build" else (0, 1)):
            raise AssertionError(f"{command} exited {code}:\n{ex.last_log()}")
    elif kind == "load_during_build":
        build = ex.start("build")
        time.sleep(2.0)
        ex.run("ingest", *paths(args[0]), COUNTONCE_COPY_CHUNK_ROWS="10")
        ex.finish(build, 0)
        ex.faults[kind] += 1
    elif kind == "restart_db":
        ex.pg_server.stop()
        ex.pg_server.start()
        ex.faults[kind] += 1
    else:  # pragma: no cover - a new step kind needs handling here
        raise AssertionError(step)


def check_schedule(pg_server, home: Path, stream: Stream, schedule: list[tuple]) -> None:
    note(f"stream={stream}")
    note(f"schedule={schedule}")
    TALLY.schedules += 1
    ex = Example(pg_server, home)
    try:
        result = generate(ex.inbox, stream.config())
        files = result.files
        for step in schedule:
            apply(ex, step, files)
        code = ex.run("run", "--json", allowed=(0, 1, 2, 3, 4))
        record = json.loads(ex.last_stdout())
        assert code == 0 and record["status"] == "succeeded", ex.last_log()
        assert record["checks_failed"] == 0
        truth = read_truth(ex.inbox / "truth.csv")
        with psycopg.connect(**ex.params, autocommit=True) as conn:
            outcome = assert_truth(conn, truth, files)
        TALLY.drift_cents += outcome.drift_cents
        TALLY.lines += outcome.lines
        if outcome.reordered:
            TALLY.reordered += 1
            TALLY.reordered_cents += outcome.cents_from_producer
        TALLY.survived += 1
        TALLY.faults.update(ex.faults)
    finally:
        ex.drop()


def _examples(request: pytest.FixtureRequest) -> tuple[int, bool]:
    soak = request.config.getoption("soak", default=0) or 0
    return (soak, True) if soak else (DEFAULT_EXAMPLES, False)


def test_fault_schedules_end_in_the_truth(pg_server, tmp_path_factory, request) -> None:
    if not pg_server.embedded:
        pytest.skip("restarting the database needs the embedded server")
    examples, soak = _examples(request)

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=not soak,
        database=None,
        phases=(Phase.explicit, Phase.generate),  # shrinking would re-run minutes of faults
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(scenarios(max_steps=8 if soak else 4))
    @example(EVERY_FAULT)
    def property_(scenario: tuple[Stream, list[tuple]]) -> None:
        stream, schedule = scenario
        check_schedule(pg_server, tmp_path_factory.mktemp("fault"), stream, schedule)

    try:
        property_()
    finally:
        print(f"\n{TALLY.line()}")
