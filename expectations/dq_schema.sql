-- Data-quality results for dashboards, and the scope of the check run in progress.
-- Idempotent: applied before every check run.
create schema if not exists dq;

-- One row per check run.
create table if not exists dq.check_runs (
    run_id text primary key,
    is_full boolean not null,
    started_at timestamptz not null default clock_timestamp(),
    finished_at timestamptz,
    success boolean,
    critical_failed integer,
    warnings integer,
    scope_minutes bigint not null,
    scope_batches bigint not null,
    invocation_id text,
    data_docs_index text
);

-- One row per expectation per run.
create table if not exists dq.check_results (
    run_id text not null references dq.check_runs (run_id) on delete cascade,
    suite text not null,
    expectation text not null,
    severity text not null check (severity in ('critical', 'warning')),
    success boolean not null,
    observed_value jsonb,
    offending_rows jsonb not null default '[]'::jsonb,
    checked_at timestamptz not null default clock_timestamp(),
    primary key (run_id, expectation)
);
create index if not exists check_results_expectation_idx
on dq.check_results (expectation, checked_at desc);

create or replace view dq.latest_check_status as
select distinct on (r.expectation)
    r.expectation,
    r.suite,
    r.severity,
    r.success,
    r.observed_value,
    r.offending_rows,
    r.run_id,
    r.checked_at
from dq.check_results as r
order by r.expectation asc, r.checked_at desc;

-- The scope of the run in progress (runs are serialised by an advisory lock): the minutes
-- and load batches to check, and the thresholds of the warning checks. The suites' SQL reads
-- these tables, so it never changes from run to run.
create table if not exists dq.check_scope (
    run_id text primary key,
    max_reject_rate numeric not null,
    max_landing_age interval not null,
    lookback interval not null,
    future_margin interval not null
);
-- Core minutes are compared with the fact; the others are there only so that the first
-- landed copy of every key seen in a core minute is in view of the recomputation.
create table if not exists dq.check_scope_minutes (
    minute timestamptz primary key,
    is_core boolean not null
);
create table if not exists dq.check_scope_batches (load_batch_id bigint primary key);
-- dq.landing_valid_events (below) evaluated once per run for the scope: the valid landing
-- rows of the scope's minutes and load batches. Parsing and validating the JSON is most of
-- the cost of the landing checks, so it is paid once here instead of once per check.
-- Unlogged: it is rebuilt by every run and never read after it.
create unlogged table if not exists dq.check_scope_landing (
    landing_seq bigint primary key,
    load_batch_id bigint,
    loaded_at timestamptz,
    event_minute timestamptz,
    order_id text,
    event_id text,
    event_type text,
    event_at timestamptz,
    amount numeric,
    currency text
);

-- Load batches that a passing check run has covered; per-run checks skip them.
create table if not exists dq.checked_batches (
    load_batch_id bigint primary key,
    run_id text not null,
    checked_at timestamptz not null default clock_timestamp()
);

-- The event contract, implemented a second time straight on the landing table (independent
-- of the dbt models): one row per valid landing row. Every cast sits behind a case on the
-- validity, so no predicate pushed into the view can make it fail. Ids must be JSON strings;
-- an event_time further than the run's future margin after its landing is invalid.
-- The fields and the validity are computed once per row in `offset 0` subqueries (inlined,
-- each use of is_valid would parse the JSON again: twice the cost); the scope's predicates on
-- landing's own columns still reach its indexes.
create or replace view dq.landing_valid_events as
select
    e.landing_seq,
    e.load_batch_id,
    e.loaded_at,
    e.event_minute,
    c.order_id,
    c.event_id,
    c.event_type,
    case when c.is_valid then c.event_time_text::timestamptz end as event_at,
    case when c.is_valid then c.amount_text::numeric end as amount,
    c.currency
from raw.order_events as e
cross join lateral (
    select
        f.*,
        coalesce(
            f.has_string_ids
            and length(f.order_id) <= 128
            and length(f.event_id) <= 128
            and f.event_type in ('created', 'paid', 'refunded', 'cancelled')
            and e.event_minute is not null
            and (f.amount_text is not null or f.event_type not in ('paid', 'refunded'))
            and (f.currency is not null or f.event_type not in ('paid', 'refunded')),
            false
        )
        and coalesce(f.amount_text ~ '^0*[0-9]{1,12}([.][0-9]{1,2})?$', true)
        and coalesce(f.currency ~ '^[A-Z]{3}$', true) as is_valid
    from (
        select
            nullif(e.record ->> 'order_id', '') as order_id,
            nullif(e.record ->> 'event_id', '') as event_id,
            nullif(e.record ->> 'event_type', '') as event_type,
            nullif(e.record ->> 'currency', '') as currency,
            nullif(e.record ->> 'amount', '') as amount_text,
            e.record ->> 'event_time' as event_time_text,
            jsonb_typeof(e.record -> 'order_id') = 'string'
            and jsonb_typeof(e.record -> 'event_id') = 'string' as has_string_ids
        offset 0
    ) as f
    offset 0
) as c
where
    c.is_valid
    and case
        when c.is_valid
            then c.event_time_text::timestamptz
            <= e.loaded_at + (select s.future_margin from dq.check_scope as s)
        else false
    end;
