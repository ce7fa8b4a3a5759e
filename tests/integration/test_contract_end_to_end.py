"""Every reject kind, on the loader's side and the contract's, through the real loader and a
real build: no bad line stops the pipeline (a full refresh included), each lands as a reject
with its reason, the ledger balances and the critical checks pass."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from decimal import Decimal

from test_ingest_bad_lines import CORPUS
from test_models_pipeline import MINUTE, REJECTS, dbt_work, models  # noqa: F401  (fixtures)
from test_models_support import dbt, event, fact, unbalanced_batches

from expectations.checks import run_checks
from ingest.loader import load

# Times that no contract rule but the time's own can reject: PostgreSQL's cast would refuse
# them, so they must never reach it.
BAD_TIMES = [
    (event("t1", event_time="２０２６-11-26T10:01:12Z"), "event_time_invalid"),
    (event("t2", event_time="2026-11-26T10:01:١٢Z"), "event_time_invalid"),
    (event("t3", event_time="2026-11-26T10:01:12\u200bZ"), "event_time_invalid"),
]
GOOD = [event("ok1", amount="65.00"), event("ok2", amount=12.5)]


def test_every_reject_kind_lands_with_its_reason_and_no_build_fails(
    models,  # noqa: F811
    tmp_path,
):
    settings, params, conn = models
    contract = [record for record, _ in REJECTS + BAD_TIMES] + GOOD
    corpus, events = tmp_path / "corpus.jsonl", tmp_path / "events.jsonl"
    corpus.write_bytes(b"".join(line + end for line, end, _ in CORPUS))
    events.write_bytes(b"".join(json.dumps(record).encode() + b"\n" for record in contract))
    past = time.time() - 3600
    os.utime(corpus, (past, past))
    # The corpus's over-long lines are over a small limit; the contract's long ids are not.
    small = dataclasses.replace(settings, max_line_bytes=200, reject_text_bytes=64)
    summary = load(small, params, [str(corpus)])
    at_load = [reason for _, _, reason in CORPUS if reason]
    assert summary.rejected == len(at_load)
    summary = load(settings, params, [str(events)])
    assert (summary.lines_read, summary.rejected) == (len(contract), 0)

    for args in (["build"], ["build", "--full-refresh"], ["build"]):
        dbt(settings, params, *args)
        reasons = [
            row[0]
            for row in conn.execute(
                "select reject_reason from intermediate.int_order_events_rejected"
                " where source_file = %s order by landing_seq",
                (str(events.resolve()),),
            )
        ]
        assert reasons == [reason for _, reason in REJECTS + BAD_TIMES]
        loaded_reasons = conn.execute(
            "select reason from raw.load_rejects order by source_line"
        ).fetchall()
        assert [r for (r,) in loaded_reasons] == at_load
        assert unbalanced_batches(conn) == []
        assert fact(conn)[(MINUTE, "USD")][0] == Decimal("77.50")

    report = run_checks(settings, params)
    assert report.success, report.as_dict()
