"""The suites as code: which relation each validates, and the SQL of every check.

Every asset reads only the scope of the run in progress (schema dq, see scope.py), so the
SQL here is fixed and the cost follows the batch. Landing and the models are reached per
scope minute or batch through `lateral (... offset 0)`: the offset keeps the planner from
flattening the lookup into a join that it may answer by scanning the whole history. The
valid landing rows of the scope (the event contract, dq.landing_valid_events) are evaluated
once per run into dq.check_scope_landing, which the landing checks read.
`{batch}` is the asset's rows; a query with a join names the batch itself (`{batch} as f`),
as Great Expectations requires.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CRITICAL = "critical"
WARNING = "warning"

FACT_IN_SCOPE = """
select f.*
from dq.check_scope_minutes as s
cross join lateral (
    select m.* from analytics.fact_revenue_1m as m
    where m.minute >= s.minute and m.minute < s.minute + interval '1 minute'
    offset 0
) as f
where s.is_core
union all
select f.* from analytics.fact_revenue_1m as f where f.minute is null
"""

# Per minute: the rows of a minute are scattered over the table, and a plain join is then
# planned as a (parallel) scan of the whole history.
DEDUPLICATED_IN_SCOPE = """
select d.*
from dq.check_scope_minutes as s
cross join lateral (
    select m.* from intermediate.int_order_events_deduplicated as m
    where m.event_minute = s.minute
    offset 0
) as d
where s.is_core
union all
select d.* from intermediate.int_order_events_deduplicated as d where d.event_minute is null
"""

BATCHES_IN_SCOPE = """
select b.*
from raw.load_batches as b
inner join dq.check_scope_batches as s on b.load_batch_id = s.load_batch_id
"""


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


def duplicated_keys(*columns: str) -> str:
    """Each key of the batch held by more than one row, with its count. A row missing part of
    its key is the no-nulls check's finding, not this one's."""
    key = ", ".join(columns)
    present = " and ".join(f"{column} is not null" for column in columns)
    return f"""
select {key}, count(*) as copies
from {{batch}}
where {present}
group by {key}
having count(*) > 1
"""


FACT_NO_NULLS = """
select minute, currency, gross_paid_amount, refunded_amount, net_amount,
    paid_event_count, refund_event_count
from {batch}
where minute is null or currency is null or gross_paid_amount is null
    or refunded_amount is null or net_amount is null
    or paid_event_count is null or refund_event_count is null
"""

FACT_ALIGNED = """
select minute, currency
from {batch}
where minute <> date_bin('1 minute', minute, timestamptz '2000-01-01 00:00+00')
"""

# Distinct (order_id, event_id) among valid landing rows, first landed copy, per minute.
FACT_RECOMPUTED = """
with landed as (
    select l.*
    from dq.check_scope_landing as l
    inner join dq.check_scope_minutes as s on l.event_minute = s.minute
),

first_copies as (
    select distinct on (l.order_id, l.event_id) l.*
    from landed as l
    order by l.order_id, l.event_id, l.landing_seq
),

recomputed as (
    select
        c.event_minute as minute,
        c.currency,
        coalesce(sum(c.amount) filter (where c.event_type = 'paid'), 0) as gross_paid_amount,
        coalesce(sum(c.amount) filter (where c.event_type = 'refunded'), 0) as refunded_amount,
        count(*) filter (where c.event_type = 'paid') as paid_event_count,
        count(*) filter (where c.event_type = 'refunded') as refund_event_count
    from first_copies as c
    inner join dq.check_scope_minutes as s on c.event_minute = s.minute and s.is_core
    where c.event_type in ('paid', 'refunded')
    group by c.event_minute, c.currency
),

compared as (
    select
        f.present,
        coalesce(f.minute, r.minute) as minute,
        coalesce(f.currency, r.currency) as currency,
        f.gross_paid_amount as fact_gross_paid_amount,
        coalesce(r.gross_paid_amount, 0) as landing_gross_paid_amount,
        f.refunded_amount as fact_refunded_amount,
        coalesce(r.refunded_amount, 0) as landing_refunded_amount,
        f.net_amount as fact_net_amount,
        coalesce(r.gross_paid_amount - r.refunded_amount, 0) as landing_net_amount,
        f.paid_event_count as fact_paid_event_count,
        coalesce(r.paid_event_count, 0) as landing_paid_event_count,
        f.refund_event_count as fact_refund_event_count,
        coalesce(r.refund_event_count, 0) as landing_refund_event_count
    from (select true as present, x.* from {batch} as x) as f
    full outer join recomputed as r on f.minute = r.minute and f.currency = r.currency
)

-- A null measure is the null check's finding, not a difference.
select c.*
from compared as c
where
    c.present is null
    or coalesce(c.fact_gross_paid_amount, c.landing_gross_paid_amount)
    <> c.landing_gross_paid_amount
    or coalesce(c.fact_refunded_amount, c.landing_refunded_amount) <> c.landing_refunded_amount
    or coalesce(c.fact_net_amount, c.landing_net_amount) <> c.landing_net_amount
    or coalesce(c.fact_paid_event_count, c.landing_paid_event_count)
    <> c.landing_paid_event_count
    or coalesce(c.fact_refund_event_count, c.landing_refund_event_count)
    <> c.landing_refund_event_count
order by c.minute, c.currency
"""

# Written apart from the recomputation above (window, totals per currency) on purpose.
FACT_TOTAL = """
with landed as (
    select l.*
    from dq.check_scope_landing as l
    inner join dq.check_scope_minutes as s on l.event_minute = s.minute
),

first_landed as (
    select
        l.*,
        min(l.landing_seq) over (partition by l.order_id, l.event_id) as first_landing_seq
    from landed as l
),

landing_totals as (
    select l.currency, sum(l.amount) as landing_gross_paid_amount
    from first_landed as l
    inner join dq.check_scope_minutes as s on l.event_minute = s.minute and s.is_core
    where l.event_type = 'paid' and l.landing_seq = l.first_landing_seq
    group by l.currency
),

fact_totals as (
    select f.currency, sum(f.gross_paid_amount) as fact_gross_paid_amount
    from {batch} as f
    group by f.currency
)

select
    coalesce(f.currency, l.currency) as currency,
    f.fact_gross_paid_amount,
    l.landing_gross_paid_amount
from fact_totals as f
full outer join landing_totals as l on f.currency = l.currency
where coalesce(f.fact_gross_paid_amount, 0) <> coalesce(l.landing_gross_paid_amount, 0)
order by currency
"""

DEDUPLICATED_NO_NULLS = """
select order_id, event_id, event_type, event_at, event_minute, amount, currency, landing_seq
from {batch}
where order_id is null or event_id is null or event_type is null or event_at is null
    or event_minute is null or landing_seq is null
    or event_type in ('paid', 'refunded') and (amount is null or currency is null)
"""


def _copies_in_scope(name: str, relation: str) -> str:
    """A CTE `name`: how often each landing_seq of the batches in scope appears in `relation`,
    looked up batch by batch so its load_batch_id index is used."""
    return f"""{name} as (
    select m.landing_seq, count(*) as copies
    from dq.check_scope_batches as s
    cross join lateral (
        select x.landing_seq from {relation} as x
        where x.load_batch_id = s.load_batch_id
        offset 0
    ) as m
    group by m.landing_seq
)"""


# Every landing row of a batch is exactly one of kept, duplicate, rejected; every line read
# was landed or rejected at load. The models are read through their load_batch_id index.
LEDGER = (
    "with\n\n"
    + _copies_in_scope("kept", "intermediate.int_order_events_deduplicated")
    + ",\n\n"
    + _copies_in_scope("duplicates", "intermediate.int_order_event_duplicates")
    + ",\n\n"
    + _copies_in_scope("rejected", "intermediate.int_order_events_rejected")
    + """,

classified as (
    select
        e.load_batch_id,
        e.landing_seq,
        coalesce(k.copies, 0) as is_kept,
        coalesce(d.copies, 0) as is_duplicate,
        coalesce(r.copies, 0) as is_rejected
    from {batch} as b
    cross join lateral (
        select o.load_batch_id, o.landing_seq from raw.order_events as o
        where o.load_batch_id = b.load_batch_id
        offset 0
    ) as e
    left join kept as k on e.landing_seq = k.landing_seq
    left join duplicates as d on e.landing_seq = d.landing_seq
    left join rejected as r on e.landing_seq = r.landing_seq
),

per_batch as (
    select
        c.load_batch_id,
        count(*) as landed,
        sum(c.is_kept) as kept,
        sum(c.is_duplicate) as duplicates,
        sum(c.is_rejected) as rejected,
        count(*) filter (where c.is_kept + c.is_duplicate + c.is_rejected = 0) as unaccounted,
        count(*) filter (where c.is_kept + c.is_duplicate + c.is_rejected > 1) as counted_twice
    from classified as c
    group by c.load_batch_id
)

select
    b.load_batch_id,
    b.source_file,
    b.lines_read,
    b.rows_landed,
    b.rows_rejected as rejected_at_load,
    coalesce(p.landed, 0) as landed,
    coalesce(p.kept, 0) as kept,
    coalesce(p.duplicates, 0) as duplicates,
    coalesce(p.rejected, 0) as rejected,
    coalesce(p.unaccounted, 0) as unaccounted,
    coalesce(p.counted_twice, 0) as counted_twice
from {batch} as b
left join per_batch as p on b.load_batch_id = p.load_batch_id
where
    b.lines_read <> b.rows_landed + b.rows_rejected
    or b.rows_landed <> coalesce(p.landed, 0)
    or coalesce(p.landed, 0) <> coalesce(p.kept + p.duplicates + p.rejected, 0)
    or coalesce(p.unaccounted, 0) > 0
    or coalesce(p.counted_twice, 0) > 0
order by b.load_batch_id
"""
)

CONFLICTS = """
select
    e.landing_seq, e.order_id, e.event_id, e.event_type, e.amount, e.currency, e.event_at,
    k.landing_seq as kept_landing_seq, k.event_type as kept_event_type,
    k.amount as kept_amount, k.currency as kept_currency, k.event_at as kept_event_at
from {batch} as b
inner join dq.check_scope_landing as e on b.load_batch_id = e.load_batch_id
cross join lateral (
    select d.* from intermediate.int_order_events_deduplicated as d
    where d.order_id = e.order_id and d.event_id = e.event_id
    offset 0
) as k
where
    k.landing_seq <> e.landing_seq
    and (k.event_type, k.amount, k.currency, k.event_at)
    is distinct from (e.event_type, e.amount, e.currency, e.event_at)
order by e.landing_seq
"""

LATE_DUPLICATES = """
select
    e.landing_seq, e.order_id, e.event_id, e.loaded_at,
    k.landing_seq as kept_landing_seq, k.loaded_at as kept_loaded_at
from {batch} as b
inner join dq.check_scope_landing as e on b.load_batch_id = e.load_batch_id
cross join lateral (
    select d.* from intermediate.int_order_events_deduplicated as d
    where d.order_id = e.order_id and d.event_id = e.event_id
    offset 0
) as k
cross join dq.check_scope as s
where k.landing_seq < e.landing_seq and k.loaded_at < e.loaded_at - s.lookback
order by e.landing_seq
"""

REJECT_RATE = """
with lines as (
    select
        coalesce(sum(b.lines_read), 0) as lines_read,
        coalesce(sum(b.rows_rejected), 0) as rejected_at_load,
        coalesce(sum(b.rows_landed), 0) as landed
    from {batch} as b
),

valid as (
    select count(*) as valid_rows
    from dq.check_scope_landing as l
    inner join dq.check_scope_batches as s on l.load_batch_id = s.load_batch_id
)

select
    l.lines_read,
    l.rejected_at_load,
    l.landed - v.valid_rows as rejected_in_staging,
    round((l.rejected_at_load + l.landed - v.valid_rows)::numeric / l.lines_read, 6)
        as reject_rate,
    s.max_reject_rate
from lines as l
cross join valid as v
cross join dq.check_scope as s
where
    l.lines_read > 0
    and (l.rejected_at_load + l.landed - v.valid_rows)::numeric / l.lines_read
    > s.max_reject_rate
"""

FRESHNESS = """
select
    max(b.finished_at) as last_landed_at,
    (now() - max(b.finished_at))::text as age,
    s.max_landing_age::text as max_landing_age
from {batch} as b
cross join dq.check_scope as s
group by s.max_landing_age
having max(b.finished_at) < now() - s.max_landing_age
"""

SUITES: tuple[Suite, ...] = (
    Suite(
        "critical_fact_revenue_1m",
        CRITICAL,
        Asset("fact_revenue_1m_in_scope", FACT_IN_SCOPE),
        (
            Check(
                "fact_key_unique",
                "(minute, currency) is unique in analytics.fact_revenue_1m",
                duplicated_keys("minute", "currency"),
            ),
            Check(
                "fact_no_null_keys_or_amounts",
                "no null key, amount or count in analytics.fact_revenue_1m",
                FACT_NO_NULLS,
            ),
            Check(
                "fact_minutes_aligned",
                "every minute of the fact is a whole UTC minute",
                FACT_ALIGNED,
            ),
            Check(
                "fact_matches_recomputation",
                "no minute where the fact differs from a recomputation from raw.order_events",
                FACT_RECOMPUTED,
            ),
            Check(
                "fact_total_matches_landing",
                "total paid revenue in the fact equals distinct paid revenue in landing",
                FACT_TOTAL,
            ),
        ),
    ),
    Suite(
        "critical_int_order_events_deduplicated",
        CRITICAL,
        Asset("deduplicated_in_scope", DEDUPLICATED_IN_SCOPE),
        (
            Check(
                "deduplicated_key_unique",
                "(order_id, event_id) is unique in the deduplicated events",
                duplicated_keys("order_id", "event_id"),
            ),
            Check(
                "deduplicated_no_null_keys_or_amounts",
                "no null key, time, or amount of a paid or refunded event",
                DEDUPLICATED_NO_NULLS,
            ),
        ),
    ),
    Suite(
        "critical_conservation_ledger",
        CRITICAL,
        Asset("load_batches_in_scope", BATCHES_IN_SCOPE),
        (
            Check(
                "ledger_balances",
                "per load batch: landed = kept + duplicates + rejected, each row once",
                LEDGER,
            ),
        ),
    ),
    Suite(
        "warning_landing",
        WARNING,
        Asset("load_batches_in_scope", BATCHES_IN_SCOPE),
        (
            Check(
                "no_conflicting_duplicates",
                "no duplicate whose business fields differ from the kept copy",
                CONFLICTS,
            ),
            Check(
                "no_late_duplicates",
                "no duplicate landing after the lookback window of its kept copy",
                LATE_DUPLICATES,
            ),
            Check(
                "reject_rate_within_threshold",
                "share of rejected lines at most COUNTONCE_DQ_MAX_REJECT_RATE",
                REJECT_RATE,
            ),
        ),
    ),
    Suite(
        "warning_landing_freshness",
        WARNING,
        Asset("load_batches", "select * from raw.load_batches"),
        (
            Check(
                "landing_fresh",
                "last load at most COUNTONCE_DQ_MAX_LANDING_AGE_MINUTES ago",
                FRESHNESS,
            ),
        ),
    ),
)
