"""Two designs side by side in one run: this checkout and an earlier commit of countonce
(default 4ba0c33, the last before at-least-once runs on stock dbt and Great Expectations),
checked out in a temporary folder and run with this virtual environment. Each design's own
bench_models (per-batch models over N landed rows, beside the naive full refresh) and
bench_pipeline (one 10k-event batch end to end, warm and cold) run in turn, alternating
between the designs at each size and each round, so that the machine's drift falls on both.

    .venv/bin/python -m bench.bench_designs --sizes 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from bench.results import record

REPO = Path(__file__).resolve().parent.parent
BASELINE = "4ba0c33"


def checkout(commit: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run(tree: Path, *args: str) -> dict:
    """A bench module of `tree`, in its own process and its own embedded server; its figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COUNTONCE_", "PG"))}
    env["PYTHONPATH"] = str(tree)
    results = tree / "bench" / "results.json"
    results.unlink(missing_ok=True)
    try:
        subprocess.run([sys.executable, "-m", *args], cwd=tree, env=env, check=True)
    finally:
        subprocess.run(
            [sys.executable, "-m", "countonce", "db", "stop"], cwd=tree, env=env, check=False
        )
    return json.loads(results.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--sizes", nargs="+", default=["1000000", "10000000"])
    parser.add_argument("--events", default="10000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="countonce-baseline-") as work:
        trees = {"baseline": checkout(args.baseline, Path(work)), "current": REPO}
        pipeline: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(2):
            for name, tree in trees.items():
                figures = run(tree, "bench.bench_pipeline", "--events", args.events)
                pipeline[name].append(figures["pipeline"]["figures"])
        models: dict[str, list[dict]] = {name: [] for name in trees}
        for size in args.sizes:
            for name, tree in trees.items():
                figures = run(tree, "bench.bench_models", "--sizes", size)["models"]["figures"]
                models[name] += figures
    print(f"\nbaseline {args.baseline} against this checkout")
    print(
        f"{'design':>9} {'landed rows':>12} {'models s':>9} {'dedup+fact s':>13} {'naive s':>9}"
        f" {'naive/models':>13}"
    )
    summary: dict[str, dict] = {}
    for name, rows in models.items():
        for row in rows:
            print(
                f"{name:>9} {row['landed_rows']:>12,} {row['all_models_seconds']:>9.3f}"
                f" {row['core_seconds']:>13.3f} {row['naive_seconds']:>9.3f}"
                f" {row['naive_seconds'] / row['all_models_seconds']:>12.1f}x"
            )
        growth = rows[-1]["all_models_seconds"] / rows[0]["all_models_seconds"]
        summary[name] = {"models": rows, "models_growth": round(growth, 3)}
        print(
            f"{name:>9} models at {rows[-1]['landed_rows']:,} vs {rows[0]['landed_rows']:,}:"
            f" {growth:.2f}x"
        )
    for name, runs in pipeline.items():
        warm = statistics.median(r["warm"]["median_seconds"] for r in runs)
        cold = statistics.median(r["cold"]["median_seconds"] for r in runs)
        summary[name].update(pipeline=runs, warm_seconds=warm, cold_seconds=cold)
        print(
            f"{name:>9} batch end to end: warm {warm:.2f} s, cold {cold:.2f} s"
            f" (medians of {len(runs)} rounds)"
        )
    slower = summary["current"]["warm_seconds"] / summary["baseline"]["warm_seconds"] - 1
    print(f"warm batch, this checkout against the baseline: {slower:+.0%}")
    record("designs", {"baseline": args.baseline, **summary})


if __name__ == "__main__":
    main()
