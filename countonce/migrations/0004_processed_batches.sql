-- At-least-once batch runs: a run works on the committed landing batches not recorded here,
-- and records them only after everything it wrote, its checks included, succeeded.
create table if not exists ops.processed_batches (
    load_batch_id bigint primary key,
    run_id uuid not null,
    processed_at timestamptz not null default clock_timestamp()
);
alter table ops.pipeline_runs add column if not exists load_batches_processed bigint;
comment on column ops.pipeline_runs.load_batches_processed is
    'Landing batches this run recorded as processed (ops.processed_batches).';

-- A file is recognised by more than its path (a rotated or rewritten file is read from its
-- start), and a held-back unterminated last line is pending, not lost.
alter table raw.source_offsets
    add column if not exists device bigint,
    add column if not exists inode bigint,
    add column if not exists fingerprint text,
    add column if not exists fingerprint_bytes integer,
    add column if not exists pending_bytes bigint not null default 0;

-- Replaced by the run scope and by the dbt reconciliation views, which the checks read: the
-- check scope tables, the contract written a second time in SQL, and the landing schema's
-- version comment (now ops.schema_migrations). event_minute is computed by the loader only.
drop view if exists dq.landing_valid_events;
drop table if exists dq.check_scope_landing;
drop table if exists dq.check_scope_minutes;
drop table if exists dq.check_scope_batches;
drop table if exists dq.check_scope;
drop table if exists dq.checked_batches;
drop function if exists raw.utc_minute(text);
comment on schema raw is null;
