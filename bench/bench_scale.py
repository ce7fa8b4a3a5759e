"""countonce as the data grows: per-batch cost at 1M, 10M and 30M landed rows, and the scale
curve, batches of 1k to 1M events over one history, end to end with where the time goes.

    .venv/bin/python -m bench.bench_scale --sizes 1000000 10000000 30000000 \\
        --batches 10000 100000 --curve-size 10000000 --curve-batches 1000 10000 100000 1000000

For each size (ascending), the history is set up as bench/harness.py says (bench_models'
INSERT ... generate_series landing, countonce's first build over it, vacuum, analyze and
cache), each step timed: that is the set-up time reported (at 30M, most of it). Then, after
one untimed batch (the scheduler's first run builds every model), batches are timed end to
end as `countonce schedule` runs them, warm (scheduler.pipeline.run_batch after warm_up):
`--repeat` batches of each size in `--batches` (medians), and at `--curve-size` also those
of `--curve-batches`; a batch of a million events or more is run `--repeat-large` times, as
each adds its events to the history it is measured over. Each batch is one file from the
harness's producer (five minutes of events after the previous file's, 5% re-sent within the
file, 1% of the previous file's events again). Reported per batch: end-to-end seconds,
events per second, and the run ledger's load, dbt (the models) and checks seconds.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from bench.harness import (
    Countonce,
    Producer,
    Timing,
    drop,
    land_and_build,
    median_timing,
    settle_history,
    work_settings,
)
from bench.results import record
from countonce import logs
from countonce.settings import Settings

DATABASE = "countonce_bench_scale"
LARGE = 1_000_000


def bench_size(
    settings: Settings,
    params: dict[str, str],
    size: int,
    batches: list[int],
    repeat: int,
    repeat_large: int,
    work: Path,
    keep: bool,
) -> dict:
    history = land_and_build(settings, params, size, DATABASE)
    settle_history(history)
    print(f"\n{size:,} landed rows: set-up {history.seconds}", flush=True)
    counts = {batch: repeat_large if batch >= LARGE else repeat for batch in batches}
    files = work / f"files-{size}"
    files.mkdir()
    producer = Producer(files, spans=1 + sum(counts.values()))
    countonce = Countonce(settings, history)
    rows = []
    try:
        countonce.run(producer.write("prime", min(batches)))
        for batch in batches:
            timings: list[Timing] = []
            for i in range(counts[batch]):
                path = producer.write(f"s{batch}-{i}", batch)
                timings.append(countonce.run(path))
            figures = median_timing(timings)
            rows.append(
                {
                    "batch_events": batch,
                    "runs": counts[batch],
                    **figures,
                    "events_per_second": round(batch / figures["wall_seconds"]),
                }
            )
            print(f"  {batch:,}-event batches timed", flush=True)
    finally:
        if not keep:
            drop(history.params, DATABASE)
    return {"landed_rows": size, "setup_seconds": history.seconds, "batches": rows}


def print_size(figures: dict) -> None:
    print(f"\n{figures['landed_rows']:,} landed rows (set-up: {figures['setup_seconds']})")
    print(
        f"{'batch':>10} {'runs':>5} {'end to end s':>13} {'events/s':>9} {'load s':>8}"
        f" {'models s':>9} {'checks s':>9}"
    )
    for row in figures["batches"]:
        print(
            f"{row['batch_events']:>10,} {row['runs']:>5} {row['wall_seconds']:>13.3f}"
            f" {row['events_per_second']:>9,} {row['load_seconds']:>8.3f}"
            f" {row['transform_seconds']:>9.3f} {row['checks_seconds']:>9.3f}"
        )


def print_growth(all_figures: list[dict], batches: list[int]) -> dict:
    """Per-batch seconds at each size against the smallest (issue 21: 30M at most 1.5x 1M)."""
    smallest = all_figures[0]
    growth = {}
    print(f"\nper-batch end to end, against {smallest['landed_rows']:,} landed rows")
    for batch in batches:
        base = next(r for r in smallest["batches"] if r["batch_events"] == batch)["wall_seconds"]
        cells = []
        for figures in all_figures:
            wall = next(r for r in figures["batches"] if r["batch_events"] == batch)
            ratio = wall["wall_seconds"] / base
            growth[f"{batch}@{figures['landed_rows']}"] = round(ratio, 3)
            cells.append(f"{figures['landed_rows']:,}: {wall['wall_seconds']:.3f} s ({ratio:.2f}x)")
        verdict = "ok" if ratio <= 1.5 else "over the goal"
        print(f"  {batch:>8,}-event batch  " + "   ".join(cells) + f"  (goal <= 1.5x: {verdict})")
    return growth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000, 30_000_000])
    parser.add_argument("--batches", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--curve-size", type=int, default=10_000_000)
    parser.add_argument(
        "--curve-batches", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000]
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed batches per batch size")
    parser.add_argument(
        "--repeat-large", type=int, default=1, help=f"timed batches of {LARGE:,} events or more"
    )
    parser.add_argument("--keep", action="store_true", help="keep the last bench database")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logs.configure(json_lines=False, level=logging.INFO if args.verbose else logging.WARNING)
    all_figures = []
    with tempfile.TemporaryDirectory(prefix="countonce-scale-") as work:
        settings, params = work_settings(Path(work))
        for size in sorted(args.sizes):
            batches = sorted(
                set(args.batches) | (set(args.curve_batches) if size == args.curve_size else set())
            )
            figures = bench_size(
                settings,
                params,
                size,
                batches,
                args.repeat,
                args.repeat_large,
                Path(work),
                args.keep and size == max(args.sizes),
            )
            print_size(figures)
            all_figures.append(figures)
    growth = print_growth(all_figures, sorted(args.batches))
    curve = next((f for f in all_figures if f["landed_rows"] == args.curve_size), None)
    if curve is not None:
        print(f"\nscale curve over {args.curve_size:,} landed rows")
        print_size(curve)
    record(
        "scale",
        {"sizes": all_figures, "growth_against_smallest": growth, "curve_size": args.curve_size},
    )


if __name__ == "__main__":
    main()
