"""An analyst's `cd dbt_project && dbt build` after `eval "$(countonce db env)"`, and proof
that dbt never reaches for the network while doing it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_models_support import event, land

from countonce.settings import LIBPQ_VARIABLES, libpq_variables

REPO = Path(__file__).resolve().parents[2]

# Runs dbt's own CLI with an audit hook that records every socket a Python library opens
# or resolves. libpq (PostgreSQL) connects in C, so only network use by dbt itself shows.
WATCHED_DBT = """
import json, socket, sys
seen = []
def hook(name, args):
    if name in ("socket.connect", "socket.getaddrinfo"):
        seen.append([name, repr(args)[:200]])
sys.addaudithook(hook)
socket.getaddrinfo("localhost", 9)  # the hook works: this one must be seen
from dbt.cli.main import cli
try:
    cli(sys.argv[2:], standalone_mode=False)
    code = 0
except SystemExit as exc:
    code = exc.code or 0
except Exception:
    code = 2
json.dump({"seen": seen, "code": code}, open(sys.argv[1], "w"))
"""


def test_analyst_dbt_build_works_offline(migrated, database, env, tmp_path):
    land(migrated, [event("evt-9f3", "o-1001", amount="65.00")] * 2)
    analyst_env = {k: v for k, v in env.items() if k not in LIBPQ_VARIABLES}
    analyst_env.pop("COUNTONCE_DATABASE_URL")
    analyst_env.update(libpq_variables(database))
    analyst_env.update(
        {"DBT_TARGET_PATH": str(tmp_path / "target"), "DBT_LOG_PATH": str(tmp_path / "logs")}
    )
    report = tmp_path / "network.json"
    proc = subprocess.run(
        [sys.executable, "-c", WATCHED_DBT, str(report), "build"],
        cwd=REPO / "dbt_project",
        env=analyst_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    outcome = json.loads(report.read_text())
    assert outcome["code"] == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert outcome["seen"][0][0] == "socket.getaddrinfo"
    assert outcome["seen"][1:] == []
    net = migrated.execute("select sum(net_amount) from analytics.fact_revenue_1m").fetchone()[0]
    assert str(net) == "65.00"
    schemas = {
        row[0]
        for row in migrated.execute(
            "select table_schema from information_schema.tables"
            " where table_schema not in ('pg_catalog', 'information_schema')"
        )
    }
    assert schemas == {
        "raw",
        "dq",
        "ops",
        "staging",
        "intermediate",
        "analytics",
        "reconciliation",
    }


def test_a_build_before_anything_landed_succeeds_with_an_empty_fact(database, cli, conn):
    """countonce build on a database countonce has never touched sets up its schemas first."""
    proc = cli("build", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert conn.execute("select count(*) from analytics.fact_revenue_1m").fetchone() == (0,)
    assert cli("check", timeout=600).returncode == 0


def test_an_analysts_build_on_a_database_never_set_up_says_what_to_do(database, env, tmp_path):
    analyst_env = {k: v for k, v in env.items() if k != "COUNTONCE_DATABASE_URL"}
    analyst_env.update(libpq_variables(database))
    analyst_env.update(
        {"DBT_TARGET_PATH": str(tmp_path / "target"), "DBT_LOG_PATH": str(tmp_path / "logs")}
    )
    proc = subprocess.run(
        [sys.executable, "-m", "dbt.cli.main", "build"],
        cwd=REPO / "dbt_project",
        env=analyst_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode != 0
    assert "raw.load_batches does not exist" in proc.stdout
    assert "countonce db migrate" in proc.stdout


def test_docs_publishes_every_model_and_column_as_one_page(migrated, settings, cli):
    land(migrated, [event("evt-1", "o-1")])
    proc = cli("docs", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = settings.site_dir / "dbt_docs" / "index.html"
    assert str(page) in proc.stdout
    html = page.read_text()
    for text in ("fact_revenue_1m", "int_order_events_deduplicated", "gross_paid_amount"):
        assert text in html
    assert "Sum of the amounts of paid events." in html
