"""The check report, the suite definitions and the GX connection string, without a database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from expectations.checkpoint import sqlalchemy_url
from expectations.checks import CheckReport, CheckResult
from expectations.suites import CRITICAL, WARNING, suites


def result(name: str, severity: str, success: bool) -> CheckResult:
    row = {"amount": Decimal("65.10"), "at": datetime(2026, 1, 1, tzinfo=UTC)}
    return CheckResult(
        suite="s",
        expectation=name,
        severity=severity,
        success=success,
        description="",
        observed_value=0 if success else 1,
        offending_rows=[] if success else [row],
    )


def test_report_counts_critical_failures_and_warnings_and_serialises_exactly():
    report = CheckReport(
        run_id="r",
        full=False,
        scope_minutes=3,
        scope_batches=1,
        invocation_id=None,
        data_docs_index="/x/index.html",
        seconds=0.5,
        results=[
            result("a", CRITICAL, True),
            result("b", CRITICAL, False),
            result("c", WARNING, False),
        ],
    )
    assert (report.success, report.critical_failed, report.warnings) == (False, 1, 1)
    data = report.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["results"][1]["offending_rows"][0]["amount"] == "65.10"
    assert data["success"] is False and data["critical_failed"] == 1


def test_report_without_critical_failures_succeeds_despite_warnings():
    report = CheckReport("r", True, 0, 0, None, "", 0.0, [result("c", WARNING, False)])
    assert report.success and report.warnings == 1


@pytest.mark.parametrize("on_spark", [False, True])
@pytest.mark.parametrize("full", [False, True])
def test_every_check_has_a_unique_name_and_reads_its_batch(full, on_spark):
    suite_list = suites(
        full=full, max_reject_rate=Decimal("0.05"), gaps_critical=False, on_spark=on_spark
    )
    names = [check.name for suite in suite_list for check in suite.checks]
    assert len(names) == len(set(names))
    assert {suite.severity for suite in suite_list} == {CRITICAL, WARNING}
    for suite in suite_list:
        for check in suite.checks:
            assert "{batch}" in check.sql, check.name
            # GX aliases the batch itself: an alias of ours would be a syntax error.
            assert "{batch} as" not in check.sql, check.name


@pytest.mark.parametrize("on_spark", [False, True])
def test_the_full_checks_read_all_history_and_the_run_checks_the_run_scope(on_spark):
    def queries(full):
        rate = Decimal("0.05")
        return {
            s.asset.query
            for s in suites(full=full, max_reject_rate=rate, gaps_critical=False, on_spark=on_spark)
        }

    run, full = queries(False), queries(True)
    assert any("recon_revenue_1m_full" in q for q in full)
    assert any("int_load_batches_unprocessed" in q for q in run)
    assert not any("int_load_batches_unprocessed" in q for q in full)


def test_socket_host_goes_into_the_query_string_and_tcp_host_into_the_netloc():
    socket = sqlalchemy_url(
        {"host": "/tmp/pg sock", "port": "5432", "user": "postgres", "dbname": "d"}
    )
    assert socket.startswith("postgresql+psycopg://postgres@:5432/d?host=")
    tcp = sqlalchemy_url(
        {"host": "db", "port": "5433", "user": "u", "password": "p@ss", "dbname": "d"}
    )
    assert tcp == "postgresql+psycopg://u:p%40ss@db:5433/d"
