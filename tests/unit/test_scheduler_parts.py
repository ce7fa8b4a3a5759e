"""Scheduler pieces that need no database: triggers, exit codes, signals, status text."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from countonce.cli.batches import exit_code
from scheduler import status
from scheduler.ledger import RunRecord
from scheduler.loop import make_trigger
from scheduler.signals import StopOnSignal
from scheduler.stages import _fingerprint


def test_every_flag_wins_over_cron_and_the_setting():
    trigger, described = make_trigger(5, "*/5 * * * *", 60)
    assert isinstance(trigger, IntervalTrigger) and described == "every 5s"


def test_cron_from_settings_wins_over_the_interval_setting():
    trigger, described = make_trigger(None, "*/5 * * * *", 60)
    assert isinstance(trigger, CronTrigger) and "*/5" in described


def test_interval_setting_then_default():
    assert make_trigger(None, None, 60)[1] == "every 60s"
    assert make_trigger(None, None, None)[1] == "every 300s"


def test_a_bad_cron_expression_is_a_clear_error():
    with pytest.raises(ValueError, match="COUNTONCE_SCHEDULE_CRON"):
        make_trigger(None, "every tuesday", None)


@pytest.mark.parametrize(
    ("status_", "retryable", "code"),
    [
        ("succeeded", False, 0),
        ("interrupted", False, 0),
        ("checks_failed", False, 1),
        ("failed", False, 2),
        ("failed", True, 3),
        ("skipped", False, 4),
    ],
)
def test_exit_codes(status_, retryable, code):
    record = RunRecord(trigger="manual", started_at=datetime.now(UTC), status=status_)
    record.retryable = retryable
    assert exit_code(record) == code


def test_a_signal_sets_the_stop_event_and_a_second_one_only_logs():
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        stopper = StopOnSignal().install()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stopper.event.is_set()

        class Leave(BaseException):
            pass

        stopper.interrupt_with = Leave
        os.kill(os.getpid(), signal.SIGINT)  # already stopping: must not raise
        time.sleep(0.05)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def test_the_first_signal_leaves_a_blocking_loop():
    previous = signal.getsignal(signal.SIGTERM)

    class Leave(BaseException):
        pass

    try:
        stopper = StopOnSignal().install()
        stopper.interrupt_with = Leave
        with pytest.raises(Leave):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_record_as_dict_is_json_ready():
    started = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    record = RunRecord(trigger="schedule", started_at=started, load_seconds=Decimal("0.125"))
    out = record.as_dict()
    assert out["started_at"] == "2026-11-26T10:00:00+00:00"
    assert out["load_seconds"] == "0.125"
    assert "recorded" not in out and out["status"] == "running"


def test_status_table_truncates_errors_and_shortens_ids():
    started = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    run = RunRecord(trigger="manual", started_at=started, status="failed", error="x" * 500)
    row = {**run.as_dict(), "started_at": started, "finished_at": started + timedelta(seconds=2)}
    row["seconds"] = Decimal("2.000")
    text = status.render({"runs": [row], "checks": []})
    assert run.run_id[:8] in text and run.run_id not in text
    assert "x" * status.ERROR_WIDTH not in text
    assert "2026-11-26 10:00:00" in text


def test_the_project_fingerprint_changes_when_a_model_changes(tmp_path):
    model = tmp_path / "models" / "m.sql"
    model.parent.mkdir()
    model.write_text("select 1")
    (tmp_path / "target").mkdir()
    before = _fingerprint(tmp_path)
    (tmp_path / "target" / "manifest.json").write_text("{}")
    assert _fingerprint(tmp_path) == before, "dbt's own output is not part of the project"
    model.write_text("select 2 as changed")
    assert _fingerprint(tmp_path) != before
