-- Data-quality results for dashboards: one row per check run, one per expectation per run.
create schema if not exists dq;

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
