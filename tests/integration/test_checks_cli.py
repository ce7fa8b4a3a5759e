"""`countonce check` as a user runs it, and the Data Docs it builds, opened in a browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_checks_breaks import EVENTS, land_and_build, write_lines

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


@pytest.fixture
def built_env(settings, database, env, tmp_path):
    land_and_build(settings, database, write_lines(tmp_path / "events.jsonl", EVENTS))
    return env


def test_check_cli_passes_as_json_then_fails_on_a_broken_fact(built_env, conn, cli):
    proc = cli("check", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["success"] is True and report["critical_failed"] == 0
    assert {r["expectation"] for r in report["results"]} >= {
        "fact_key_unique",
        "fact_matches_recomputation",
        "ledger_balances",
    }
    assert Path(report["data_docs_index"]).is_file()

    conn.execute(
        "update analytics.fact_revenue_1m set gross_paid_amount = 1, net_amount = 1"
        " where minute = '2026-11-26 10:01:00+00'"
    )
    proc = cli("check", "--full")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL critical fact_matches_recomputation" in proc.stdout
    docs_line = next(line for line in proc.stdout.splitlines() if line.startswith("Data Docs:"))
    index = Path(docs_line.removeprefix("Data Docs:").strip())
    assert index.is_file()
    assert index.is_relative_to(Path(built_env["COUNTONCE_HOME"]))
    assert "\r" not in proc.stderr, "no progress bars when not on a terminal"


def test_data_docs_render_the_suites_in_headless_chromium(built_env, cli, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium); cannot render")
    proc = cli("check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    index = Path(built_env["COUNTONCE_HOME"]) / "site" / "data_docs" / "index.html"
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            index.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr
    for suite in (
        "critical_fact_revenue_1m",
        "critical_int_order_events_deduplicated",
        "critical_conservation_ledger",
        "warning_landing",
    ):
        assert suite in dom.stdout, f"{suite} is not rendered in the Data Docs index"
