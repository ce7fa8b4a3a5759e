"""countonce beside the tools a data team would pick instead, on the same PostgreSQL, the same
events and the same batches, in one run: seconds per batch end to end and cents wrong.

    .venv/bin/python -m bench.bench_peers --sizes 1000000 10000000 --batches 10000 100000

The engines, each warm in this process (as countonce's scheduler is):

- **countonce**, end to end: scheduler.pipeline.run_batch (load the inbox with its COPY
  loader, dbt build of the per-batch models, Great Expectations checks).
- **dbt incremental**: dbt's standard incremental pattern as dbt's documentation teaches it,
  the small project in bench/peers/ (a watermark on loaded_at, unique_key, delete+insert;
  see its models), run in-process with a parsed manifest through countonce.dbt.invoke. It
  reads countonce's landing table, so its batch is loaded by the same loader: its end to end
  is countonce's load stage of that batch plus its `dbt run`. The benchmark adds the index
  a data engineer adds for its watermark, raw.order_events (loaded_at), which countonce's
  loads then maintain too.
- **dlt merge** (bench/peer_dlt.py): dlt's merge load of the same JSON Lines file (primary
  key (order_id, event_id), dlt's deduplication), then the minutes it touched recomputed in
  SQL. Its end to end is the load plus that.
- **naive full refresh**: the model most projects start with (dbt_project/models/bench:
  ROW_NUMBER over all of landing, rebuilt as a table every run), after the same load.

Set-up, per landed size: bench_models.prepare lands the history into its own database, and
countonce's models are built over it (bench/harness.py). The peers start from the same
landing: the dbt peer's first build is its own full refresh over the history; dlt's table is
seeded by SQL with the history's first landed copies (dlt itself creates its tables from one
event first); the truth is computed from the history's first copies. Each step's seconds are
reported. Then every engine processes one untimed batch (countonce's builds every model), and
`--repeat` batches of each size in `--batches` are timed: each is one file from the producer
(bench/harness.py: Stream's events, 5% re-sent in the file, 1% of the previous file's events
again), put into countonce's inbox and given to dlt; the other peers run after countonce has
loaded it, in an order that rotates. Medians are reported.

Then the correctness cases, each followed by every engine's cents wrong against the truth:

- (c) a replayed file: the first timed file delivered again (into the inbox under a new name,
  and to dlt again).
- (a) two loaders committing out of order: loader A (a COPY into landing with its
  raw.load_batches row, in one transaction, as countonce's loader writes a batch: its rows'
  loaded_at is its transaction's start) starts, loader B (countonce's loader in a batch run)
  lands its file and commits, every engine runs, and only then A commits; every engine runs
  again. The watermark has passed A's loaded_at: the dbt peer never reads A's rows. dlt gets
  A's file after B's.
- (b) a conflicting duplicate: 1% of a batch's events sent again a batch later with
  100.00 more. countonce keeps the first landed copy and reports the conflict; a merge in
  which the latest copy wins (dbt's delete+insert, dlt's merge) counts the second.

The cents each case adds are reported beside the total.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from bench.harness import (
    Countonce,
    History,
    Producer,
    Timing,
    Truth,
    drop,
    land_and_build,
    median_timing,
    settle_history,
    work_settings,
)
from bench.peer_dlt import CACHE_QUERIES as DLT_CACHE_QUERIES
from bench.peer_dlt import DltMerge
from bench.results import record
from countonce import db, logs, runtime
from countonce.dbt import invoke
from countonce.settings import Settings
from ingest.event_minute import NULL, utc_minute
from ingest.landing import COPY_ROWS, INSERT_BATCH
from scheduler.stages import DBT_BUILD_ARGS

log = logging.getLogger(__name__)

DATABASE = "countonce_bench_peers"
PEERS_PROJECT = Path(__file__).with_name("peers")
CONFLICT_EXTRA = Decimal("100.00")
LANDING_WATERMARK_INDEX = (
    "create index if not exists order_events_loaded_at_idx on raw.order_events (loaded_at)"
)
DBT_CACHE_QUERIES = (
    "select max(loaded_at) from peer_dbt.order_events_deduplicated"
    " where event_minute >= '-infinity'",
    "select count(*) from peer_dbt.order_events_deduplicated where order_id >= ''",
)


class DbtIncremental:
    """dbt's standard incremental pattern (bench/peers), after countonce's load."""

    name = "dbt incremental"
    fact = ("peer_dbt", "fact_revenue_1m")

    def __init__(self, settings: Settings, history: History, work: Path) -> None:
        self.settings = dataclasses.replace(
            settings, home=work / "peer_dbt", dbt_project_dir=PEERS_PROJECT
        )
        self.params = history.conn_params
        self.manifest = None

    def seed(self) -> None:
        """The watermark's index on landing, a parsed manifest, then its first build (a full
        refresh over the history)."""
        with db.connect(self.params, autocommit=True) as conn:
            conn.execute(LANDING_WATERMARK_INDEX)
        parsed = invoke(self.settings, self.params, ["parse", *DBT_BUILD_ARGS])
        if not parsed.success:
            raise SystemExit(f"dbt parse of {PEERS_PROJECT} failed: {parsed.failures}")
        self.manifest = parsed.result.result
        runtime.after_parse()
        self._run("--full-refresh")

    def _run(self, *args: str) -> float:
        started = time.perf_counter()
        outcome = invoke(self.settings, self.params, ["run", *DBT_BUILD_ARGS, *args], self.manifest)
        if not outcome.success:
            raise SystemExit(f"dbt run of {PEERS_PROJECT} failed: {outcome.failures}")
        return time.perf_counter() - started

    def run(self, load_seconds: float) -> Timing:
        seconds = self._run()
        return Timing(wall=load_seconds + seconds, load=load_seconds, transform=seconds)


class NaiveFullRefresh:
    """countonce's bench_naive model (dbt_project/models/bench), after countonce's load."""

    name = "naive full refresh"
    fact = ("bench", "bench_naive_revenue_1m")
    VARS = {"bench_naive": True}

    def __init__(self, settings: Settings, history: History, work: Path) -> None:
        self.settings = dataclasses.replace(settings, home=work / "naive")
        self.params = history.conn_params
        self.manifest = None

    def seed(self) -> None:
        parsed = invoke(
            self.settings, self.params, ["parse", *DBT_BUILD_ARGS], extra_vars=self.VARS
        )
        if not parsed.success:
            raise SystemExit(f"dbt parse (bench_naive) failed: {parsed.failures}")
        self.manifest = parsed.result.result
        runtime.after_parse()

    def run(self, load_seconds: float) -> Timing:
        started = time.perf_counter()
        outcome = invoke(
            self.settings,
            self.params,
            ["run", *DBT_BUILD_ARGS, "--selector", "bench_naive"],
            self.manifest,
            extra_vars=self.VARS,
        )
        seconds = time.perf_counter() - started
        if not outcome.success:
            raise SystemExit(f"dbt run of the naive model failed: {outcome.failures}")
        return Timing(wall=load_seconds + seconds, load=load_seconds, transform=seconds)


@contextmanager
def loader_committing_late(params: dict[str, str], path: Path) -> Iterator[None]:
    """Loader A: lands `path` as countonce's loader lands a batch (its rows by COPY, each with
    its UTC minute, and its raw.load_batches row, in one transaction whose start is the rows'
    loaded_at), and commits only when the block ends."""
    with db.connect(params) as conn:
        started = conn.execute("select now()").fetchone()[0]
        batch = conn.execute("select nextval('raw.load_batch_id_seq')").fetchone()[0]
        lines = path.read_bytes().splitlines()
        offset = 0
        with conn.cursor() as cur:
            with cur.copy(COPY_ROWS) as copy:
                for number, line in enumerate(lines, 1):
                    minute = utc_minute(json.loads(line).get("event_time"))
                    copy.write_row(
                        (
                            batch,
                            str(path),
                            number,
                            offset,
                            line.decode(),
                            None if minute == NULL else minute.decode(),
                        )
                    )
                    offset += len(line) + 1
            cur.execute(
                INSERT_BATCH,
                (batch, str(path), 1, len(lines), 0, offset, len(lines), len(lines), 0, started),
            )
        yield
        conn.commit()


def conflicting_copies(first: Path, out: Path, share: float = 0.01) -> Path:
    """The first `share` of `first`'s events again, each amount CONFLICT_EXTRA higher."""
    lines = first.read_bytes().splitlines()
    count = max(1, int(len(lines) * share))
    with out.open("w") as conflicting:
        for line in lines[:count]:
            event = json.loads(line, parse_float=Decimal)
            event["amount"] = str(Decimal(str(event["amount"])) + CONFLICT_EXTRA)
            conflicting.write(json.dumps(event) + "\n")
    return out


class Engines:
    """countonce and its peers over one history; a round runs each on one batch."""

    def __init__(self, countonce: Countonce, landing_peers: list, dlt: DltMerge) -> None:
        self.countonce = countonce
        self.landing_peers = landing_peers
        self.dlt = dlt
        self.rounds = 0

    @property
    def all(self) -> list:
        return [self.countonce, *self.landing_peers, self.dlt]

    def round(
        self, inbox_file: Path | None, dlt_file: Path | None, name: str | None = None
    ) -> dict[str, Timing]:
        """countonce first (its batch run loads the file into landing), then the peers in an
        order that rotates from round to round."""
        timings = {self.countonce.name: self.countonce.run(inbox_file, name)}
        load = timings[self.countonce.name].load
        peers = [*self.landing_peers, self.dlt]
        shift = self.rounds % len(peers)
        self.rounds += 1
        for peer in peers[shift:] + peers[:shift]:
            if peer is self.dlt:
                if dlt_file is not None:
                    timings[peer.name] = peer.run(dlt_file)
            else:
                timings[peer.name] = peer.run(load)
        return timings


def wrong(truth: Truth, engines: Engines) -> dict[str, int]:
    return {engine.name: truth.cents_wrong(engine.fact)[0] for engine in engines.all}


def bench_size(
    settings: Settings,
    params: dict[str, str],
    size: int,
    batches: list[int],
    repeat: int,
    work: Path,
    file_format: str,
    keep: bool,
) -> dict:
    history = land_and_build(settings, params, size, DATABASE)
    started = time.monotonic()
    truth = Truth(history.params)
    truth.seed_from_history()
    history.timed("truth from the history", started)
    started = time.monotonic()
    dbt_peer = DbtIncremental(settings, history, work)
    dbt_peer.seed()
    history.timed("dbt incremental: landing index, first build", started)
    started = time.monotonic()
    files = work / f"files-{size}"
    files.mkdir()
    dlt_peer = DltMerge(history.conn_params, work / f"dlt-{size}", file_format)
    dlt_peer.seed(files)
    history.timed("dlt merge: tables, history by SQL, indexes", started)
    naive = NaiveFullRefresh(settings, history, work)
    naive.seed()
    settle_history(history, DBT_CACHE_QUERIES + DLT_CACHE_QUERIES)
    print(f"\n{size:,} landed rows: set-up {history.seconds}", flush=True)

    engines = Engines(Countonce(settings, history), [dbt_peer, naive], dlt_peer)
    producer = Producer(files, spans=1 + len(batches) * repeat + 3)
    try:
        prime = producer.write("prime", batches[0])
        truth.add(prime)
        engines.round(prime, prime)
        rows = []
        replayable = None
        for batch in batches:
            timings: dict[str, list[Timing]] = {engine.name: [] for engine in engines.all}
            for i in range(repeat):
                path = producer.write(f"b{batch}-{i}", batch)
                replayable = replayable or path
                truth.add(path)
                for name, timing in engines.round(path, path).items():
                    timings[name].append(timing)
            for name, runs in timings.items():
                rows.append(
                    {"landed_rows": size, "batch_events": batch, "engine": name}
                    | median_timing(runs)
                )
            print(f"  {batch:,}-event batches timed", flush=True)
        after_batches = wrong(truth, engines)
        for row in rows:
            row["cents_wrong"] = after_batches[row["engine"]]
        cases = {"timed batches": after_batches}

        # (c) a replayed file
        engines.round(replayable, replayable, name=f"replay-{replayable.name}")
        cases["(c) replayed file"] = wrong(truth, engines)

        # (a) two loaders committing out of order
        loader_a = producer.write("case-a-loader-a", batches[0])
        loader_b = producer.write("case-a-loader-b", batches[0])
        truth.add(loader_a)
        truth.add(loader_b)
        with loader_committing_late(history.conn_params, loader_a):
            engines.round(loader_b, loader_b)
        engines.round(None, loader_a)
        cases["(a) loaders committing out of order"] = wrong(truth, engines)

        # (b) a conflicting duplicate
        first = producer.write("case-b-first", batches[0])
        truth.add(first)
        engines.round(first, first)
        conflicting = conflicting_copies(first, files / "case-b-conflicting.jsonl")
        truth.add(conflicting)  # every key already sent: the truth keeps the first copies
        engines.round(conflicting, conflicting)
        cases["(b) conflicting duplicate"] = wrong(truth, engines)

        added, previous = {}, {name: 0 for name in after_batches}
        for case, figures in cases.items():
            added[case] = {name: cents - previous[name] for name, cents in figures.items()}
            previous = figures
    finally:
        dlt_peer.close()
        if not keep:
            drop(history.params, DATABASE)
    return {
        "landed_rows": size,
        "setup_seconds": history.seconds,
        "batches": rows,
        "cases_cents_wrong_total": cases,
        "cases_cents_wrong_added": added,
    }


def print_size(figures: dict) -> None:
    print(f"\n{figures['landed_rows']:,} landed rows (set-up: {figures['setup_seconds']})")
    print(
        f"{'batch':>8} {'engine':<20} {'end to end s':>13} {'load s':>7} {'dedup+fact s':>13}"
        f" {'checks s':>9} {'events/s':>9} {'vs countonce':>13} {'cents wrong':>12}"
    )
    walls = {
        row["batch_events"]: row["wall_seconds"]
        for row in figures["batches"]
        if row["engine"] == "countonce"
    }
    for row in figures["batches"]:
        print(
            f"{row['batch_events']:>8,} {row['engine']:<20} {row['wall_seconds']:>13.3f}"
            f" {row['load_seconds']:>7.3f} {row['transform_seconds']:>13.3f}"
            f" {row['checks_seconds']:>9.3f} {row['batch_events'] / row['wall_seconds']:>9,.0f}"
            f" {row['wall_seconds'] / walls[row['batch_events']]:>12.2f}x"
            f" {row['cents_wrong']:>12,}"
        )
    engines = list(next(iter(figures["cases_cents_wrong_total"].values())))
    print(f"\n{'cents wrong (added by the case)':<40}" + "".join(f"{e:>20}" for e in engines))
    for case, added in figures["cases_cents_wrong_added"].items():
        print(f"{case:<40}" + "".join(f"{added[e]:>20,}" for e in engines))
    final = list(figures["cases_cents_wrong_total"].values())[-1]
    print(f"{'total after the cases':<40}" + "".join(f"{final[e]:>20,}" for e in engines))


def print_goals(all_figures: list[dict]) -> None:
    """Issue 21's goals at the largest size measured."""
    figures = all_figures[-1]
    print(f"\ngoals at {figures['landed_rows']:,} landed rows:")
    by = {(row["batch_events"], row["engine"]): row for row in figures["batches"]}
    for batch in sorted({row["batch_events"] for row in figures["batches"]}):
        mine = by[(batch, "countonce")]["wall_seconds"]
        for peer in ("dlt merge", "dbt incremental"):
            ratio = by[(batch, peer)]["wall_seconds"] / mine
            verdict = "ok" if ratio >= 2 else "below the goal"
            print(
                f"  {batch:>8,}-event batch: countonce {ratio:.2f}x as fast as {peer}"
                f" (goal >= 2x: {verdict})"
            )
        countonce = by[(batch, "countonce")]
        models_only = countonce["wall_seconds"] - countonce["checks_seconds"]
        dlt = by[(batch, "dlt merge")]["wall_seconds"] / models_only
        dbt = by[(batch, "dbt incremental")]["wall_seconds"] / models_only
        print(
            f"  {batch:>8,}-event batch: countonce without its checks (load + models,"
            f" {models_only:.3f} s): {dlt:.2f}x as fast as dlt merge, {dbt:.2f}x as fast as"
            " dbt incremental"
        )
    lost = figures["cases_cents_wrong_added"]["(a) loaders committing out of order"]
    print(
        f"  loaders committing out of order: countonce {lost['countonce']:,} cents wrong,"
        f" dbt incremental {lost['dbt incremental']:,} (goal: countonce 0)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--batches", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3, help="timed batches per batch size")
    parser.add_argument(
        "--dlt-file-format", default="csv", choices=["csv", "insert_values"], help="dlt's loader"
    )
    parser.add_argument("--keep", action="store_true", help="keep the last bench database")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logs.configure(json_lines=False, level=logging.INFO if args.verbose else logging.WARNING)
    all_figures = []
    with tempfile.TemporaryDirectory(prefix="countonce-peers-") as work:
        settings, params = work_settings(Path(work))
        for size in args.sizes:
            figures = bench_size(
                settings,
                params,
                size,
                args.batches,
                args.repeat,
                Path(work),
                args.dlt_file_format,
                args.keep and size == args.sizes[-1],
            )
            print_size(figures)
            all_figures.append(figures)
    print_goals(all_figures)
    record("peers", {"dlt_file_format": args.dlt_file_format, "sizes": all_figures})


if __name__ == "__main__":
    main()
