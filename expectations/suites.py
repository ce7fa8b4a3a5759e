"""The suites as code: which relation each validates and what each check looks for.

The invariants themselves are written once, in the dbt project: the event contract in the
staging model, the independent recomputation of revenue in the reconciliation views
(recon_revenue_1m, and recon_revenue_1m_full for all history), the conservation ledger in
recon_conservation_by_batch, freshness in recon_landing_freshness, the producers' gaps in
int_producer_gaps (producer_gaps: which are overdue). A check asks one of them
for the rows that break it, through Great Expectations' UnexpectedRowsExpectation, and fails
when there is any. The SQL here is portable, so the same checks run on every engine the dbt
project runs on; one phrase differs, how a check keeps to the scope's batches
(`relations.in_batches`).

Each suite validates one asset: the current run's scope (the batches in
int_load_batches_unprocessed, and the minutes recon_revenue_1m compares), or with `full` all
of history. `{batch}` is the asset's rows, already aliased by Great Expectations (never
`{batch} as x`): a check reads its columns unqualified, in a subquery of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from countonce import relations as r

CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True)
class Asset:
    name: str
    query: str


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    sql: str


@dataclass(frozen=True)
class Suite:
    name: str
    severity: str
    asset: Asset
    checks: tuple[Check, ...] = field(default_factory=tuple)


def _assets(full: bool) -> dict[str, Asset]:
    revenue = r.REVENUE_RECONCILIATION_FULL if full else r.REVENUE_RECONCILIATION
    batches = r.LOAD_BATCHES if full else r.UNPROCESSED_BATCHES
    run_rows = (
        ""
        if full
        else f" where invocation_id in (select invocation_id from {r.UNPROCESSED_BATCHES})"
        " or minute is null"
    )
    return {
        "fact": Asset("fact_revenue_1m_in_scope", f"select * from {r.FACT}{run_rows}"),
        "revenue": Asset("revenue_reconciliation", f"select * from {revenue}"),
        "batches": Asset(
            "load_batches_in_scope", f"select load_batch_id, source_file from {batches}"
        ),
        "freshness": Asset("landing_freshness", f"select * from {r.LANDING_FRESHNESS}"),
        "gaps": Asset("producer_gaps", f"select * from {r.PRODUCER_GAPS}"),
    }


FACT_KEY_REPEATED = f"""
select f.minute, f.currency, count(*) as copies
from {r.FACT} as f
where (f.minute, f.currency) in (select minute, currency from {{batch}})
group by f.minute, f.currency
having count(*) > 1
"""


def _deduplicated_in_scope(in_batches) -> str:
    return f"""
select d.*
from {r.DEDUPLICATED} as d
where {in_batches("d.load_batch_id")}
"""


def _deduplicated_key_repeated(in_batches) -> str:
    return f"""
select d.order_id, d.event_id, count(*) as copies
from {r.DEDUPLICATED} as d
where (d.order_id, d.event_id) in (
    select k.order_id, k.event_id from ({_deduplicated_in_scope(in_batches)}) as k
)
group by d.order_id, d.event_id
having count(*) > 1
"""


def _reject_rate(max_rate: Decimal, in_batches) -> str:
    return f"""
with totals as (
    select
        sum(b.lines_read) as lines_read,
        sum(b.rows_rejected) as rejected_at_load,
        (
            select count(*) from {r.REJECTED} as j
            where {in_batches("j.load_batch_id")}
        ) as rejected_in_staging
    from {r.LOAD_BATCHES} as b
    where {in_batches("b.load_batch_id")}
)

select
    t.lines_read,
    t.rejected_at_load,
    t.rejected_in_staging,
    cast(t.rejected_at_load + t.rejected_in_staging as decimal(38, 6)) / t.lines_read
        as reject_rate,
    {max_rate} as max_reject_rate
from totals as t
where
    t.lines_read > 0
    and t.rejected_at_load + t.rejected_in_staging > {max_rate} * t.lines_read
"""


def _arrived_inside_a_gap(in_batches) -> str:
    return f"""
select s.producer_id, s.sequence, s.landing_seq, g.first_missing, g.last_missing
from {r.PRODUCER_SEQUENCES} as s
inner join {r.PRODUCER_RANGES} as g
    on s.producer_id = g.producer_id
    and g.first_missing <= s.sequence
    and (g.last_missing is null or s.sequence <= g.last_missing)
where {in_batches("s.load_batch_id")}
order by s.producer_id, s.sequence
"""


def suites(
    *, full: bool, max_reject_rate: Decimal, gaps_critical: bool, on_spark: bool
) -> tuple[Suite, ...]:
    """The suites of a check run over the current run's scope, or over all history.
    gaps_critical: an overdue gap in a producer's sequence fails the run (else it warns)."""
    assets = _assets(full)

    def in_batches(column: str) -> str:
        return r.in_batches(column, "select load_batch_id from {batch}", on_spark=on_spark)

    return (
        Suite(
            "critical_fact_revenue_1m",
            CRITICAL,
            assets["revenue"],
            (
                Check(
                    "fact_matches_recomputation",
                    "no minute where the fact differs from the independent recomputation from"
                    " raw.order_events (reconciliation.recon_revenue_1m)",
                    "select * from {batch} where not is_match order by minute, currency",
                ),
            ),
        ),
        Suite(
            "critical_fact_revenue_1m_rows",
            CRITICAL,
            assets["fact"],
            (
                Check(
                    "fact_key_unique",
                    "(minute, currency) is held by one row of analytics.fact_revenue_1m",
                    FACT_KEY_REPEATED,
                ),
                Check(
                    "fact_no_null_keys_or_amounts",
                    "no null key, amount or count in analytics.fact_revenue_1m",
                    "select * from {batch}"
                    " where minute is null or currency is null or gross_paid_amount is null"
                    " or refunded_amount is null or net_amount is null"
                    " or paid_event_count is null or refund_event_count is null",
                ),
                Check(
                    "fact_minutes_aligned",
                    "every minute of the fact is a whole UTC minute",
                    "select minute, currency from {batch}"
                    " where minute <> date_trunc('minute', minute)",
                ),
            ),
        ),
        Suite(
            "critical_int_order_events_deduplicated",
            CRITICAL,
            assets["batches"],
            (
                Check(
                    "deduplicated_key_unique",
                    "(order_id, event_id) is held by one row of the deduplicated events",
                    _deduplicated_key_repeated(in_batches),
                ),
                Check(
                    "deduplicated_no_null_keys_or_amounts",
                    "no null key, time, or amount of a paid or refunded event",
                    f"""
select d.order_id, d.event_id, d.event_type, d.event_at, d.event_minute, d.amount,
    d.currency, d.landing_seq
from ({_deduplicated_in_scope(in_batches)}) as d
where d.order_id is null or d.event_id is null or d.event_type is null or d.event_at is null
    or d.event_minute is null or d.landing_seq is null
    or d.event_type in ('paid', 'refunded') and (d.amount is null or d.currency is null)
""",
                ),
            ),
        ),
        Suite(
            "critical_conservation_ledger",
            CRITICAL,
            assets["batches"],
            (
                Check(
                    "ledger_balances",
                    "per load batch: every line landed or rejected, every landed row exactly"
                    " one of kept, duplicate, rejected (recon_conservation_by_batch)",
                    f"""
select l.*
from {r.LEDGER_BY_BATCH} as l
where {in_batches("l.load_batch_id")} and not l.is_balanced
order by l.load_batch_id
""",
                ),
            ),
        ),
        Suite(
            "critical_producer_sequences",
            CRITICAL,
            assets["batches"],
            (
                Check(
                    "no_arrived_sequence_in_a_gap",
                    "no sequence number that arrived is counted missing"
                    " (int_producer_gaps against int_producer_sequences)",
                    _arrived_inside_a_gap(in_batches),
                ),
            ),
        ),
        Suite(
            "producer_gaps",
            CRITICAL if gaps_critical else WARNING,
            assets["gaps"],
            (
                Check(
                    "no_overdue_producer_gaps",
                    "no gap in a producer's sequence numbers open longer than"
                    " COUNTONCE_GAP_GRACE_MINUTES (critical with COUNTONCE_GAPS_CRITICAL=1)",
                    "select * from {batch} where is_overdue"
                    " order by noticed_at, producer_id, first_missing",
                ),
            ),
        ),
        Suite(
            "warning_landing",
            WARNING,
            assets["batches"],
            (
                Check(
                    "no_conflicting_duplicates",
                    "no duplicate whose business fields differ from the kept copy",
                    f"""
select c.*
from {r.CONFLICTS} as c
where {in_batches("c.conflicting_load_batch_id")}
order by c.conflicting_landing_seq
""",
                ),
                Check(
                    "no_reused_sequences",
                    "no producer sequence number stamped on two different events",
                    f"""
select u.*
from {r.PRODUCER_SEQUENCE_REUSES} as u
where {in_batches("u.reusing_load_batch_id")}
order by u.producer_id, u.sequence, u.reusing_landing_seq
""",
                ),
                Check(
                    "no_late_duplicates",
                    "no duplicate landing after the lookback window of its kept copy",
                    f"""
select d.landing_seq, d.order_id, d.event_id, d.loaded_at, d.kept_landing_seq
from {r.DUPLICATES} as d
where {in_batches("d.load_batch_id")} and d.is_late_duplicate
order by d.landing_seq
""",
                ),
                Check(
                    "reject_rate_within_threshold",
                    "share of rejected lines at most COUNTONCE_DQ_MAX_REJECT_RATE",
                    _reject_rate(max_reject_rate, in_batches),
                ),
            ),
        ),
        Suite(
            "warning_landing_freshness",
            WARNING,
            assets["freshness"],
            (
                Check(
                    "landing_fresh",
                    "last load at most COUNTONCE_DQ_MAX_LANDING_AGE_MINUTES ago",
                    "select * from {batch} where not is_fresh",
                ),
            ),
        ),
    )
