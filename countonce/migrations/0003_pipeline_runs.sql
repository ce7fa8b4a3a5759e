-- The run ledger: one row per batch attempt of `countonce run` / `countonce schedule`.
create schema if not exists ops;

create table if not exists ops.pipeline_runs (
    run_id uuid primary key,
    trigger text not null,
    status text not null check (status in (
        'running', 'succeeded', 'checks_failed', 'failed', 'skipped', 'interrupted'
    )),
    started_at timestamptz not null,
    finished_at timestamptz,
    load_seconds numeric(12, 3),
    dbt_seconds numeric(12, 3),
    checks_seconds numeric(12, 3),
    lines_read bigint,
    rows_loaded bigint,
    rejects_at_load bigint,
    rejects bigint,
    duplicates_absorbed bigint,
    conflicts bigint,
    checks_failed integer,
    checks_warned integer,
    dbt_invocation_id text,
    error text,
    host text not null,
    pid integer not null
);
create index if not exists pipeline_runs_started_at_idx on ops.pipeline_runs (started_at desc);

comment on table ops.pipeline_runs is
    'One row per batch attempt of countonce run/schedule. status running means in progress '
    '(or, when older than the current holder of the pipeline lock, a process that died).';
comment on column ops.pipeline_runs.rejects is
    'Landed rows rejected by the event contract in this run (rejects_at_load: lines that '
    'could not be landed at all).';
comment on column ops.pipeline_runs.duplicates_absorbed is
    'Landed copies of an already-kept (order_id, event_id) processed in this run.';
