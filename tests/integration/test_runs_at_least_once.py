"""A run may die anywhere and be repeated: a batch processed by the dedup model alone (the
build killed right after it), once or twice, and a build SIGKILLed after each model in
turn, each followed by an ordinary build, give the simulator's ground truth minute by
minute, with a balanced ledger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_models_pipeline import dbt_work, models  # noqa: F401  (fixtures)
from test_models_support import dbt, fact, unbalanced_batches

from ingest.loader import load
from ingest.simulator import SimulatorConfig, generate, read_truth
from tests.conftest import REPO, env_for

# The per-batch models in the order a one-thread build runs them.
MODELS = (
    "int_load_batches_unprocessed",
    "int_order_events_deduplicated",
    "int_order_event_duplicates",
    "int_order_events_rejected",
    "fact_revenue_1m",
)


def truth_of(stream: Path) -> dict[tuple, tuple]:
    return {
        key: tuple(row[c] for c in ("gross_paid_amount", "refunded_amount", "net_amount"))
        + (row["paid_event_count"], row["refund_event_count"])
        for key, row in read_truth(stream / "truth.csv").items()
    }


def stream_of(tmp_path: Path, files: int) -> tuple[list[Path], dict[tuple, tuple]]:
    config = SimulatorConfig(
        seed=11, events=600, files=files, replays=1, late_rate=0.1, conflict_rate=0.05
    )
    result = generate(tmp_path / "stream", config)
    return result.files, truth_of(tmp_path / "stream")


@pytest.mark.parametrize("times", [1, 2])
def test_a_batch_processed_by_the_dedup_model_alone_then_a_build_gives_the_truth(
    models,  # noqa: F811
    tmp_path,
    times,
):
    settings, params, conn = models
    files, truth = stream_of(tmp_path, 2)
    load(settings, params, [str(files[0])])
    dbt(settings, params)
    load(settings, params, [str(p) for p in files[1:]])
    for _ in range(times):  # as if each time the run had died right after the dedup model
        dbt(
            settings,
            params,
            "run",
            "--select",
            "int_load_batches_unprocessed",
            "int_order_events_deduplicated",
        )
    dbt(settings, params)
    assert fact(conn) == truth
    assert unbalanced_batches(conn) == []


def killed_after(env: dict[str, str], model: str, log: Path) -> None:
    """`countonce dbt build` on one thread, SIGKILLed as soon as `model` has finished."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "countonce",
            "dbt",
            "build",
            "--threads",
            "1",
            "--log-format",
            "json",
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    with log.open("wb") as out:
        for line in proc.stdout:
            out.write(line)
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            node = entry.get("data", {}).get("node_info", {})
            if entry["info"]["name"] == "LogModelResult" and node.get("unique_id", "").endswith(
                f".{model}"
            ):
                os.killpg(proc.pid, signal.SIGKILL)
                break
    code = proc.wait(timeout=300)
    assert code == -signal.SIGKILL, f"the build ended before {model} finished: {log}"


def test_a_build_killed_after_each_model_heals_on_the_next_build(
    models,  # noqa: F811
    database,
    tmp_path,
):
    settings, params, conn = models
    files, truth = stream_of(tmp_path, len(MODELS) - 1)
    env = env_for(database, settings.home)
    load(settings, params, [str(files[0])])
    dbt(settings, params)
    # Each model in turn over a file of its own; the last one a replay of the first.
    for model, path in zip(MODELS, [*files[1:], files[0]][: len(MODELS)], strict=True):
        load(settings, params, [str(path)], from_start=True)
        killed_after(env, model, tmp_path / f"killed-after-{model}.log")
        dbt(settings, params)
        assert unbalanced_batches(conn) == [], model
    assert fact(conn) == truth
