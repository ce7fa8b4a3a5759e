-- The landing schema written by the loader: every copy of every order event, as delivered.
create schema if not exists raw;

create sequence if not exists raw.load_batch_id_seq;

-- One row per committed chunk, written in the same transaction as its rows.
create table if not exists raw.load_batches (
    load_batch_id bigint primary key,
    source_file text not null,
    first_line bigint not null,
    last_line bigint not null,
    first_offset bigint not null,
    end_offset bigint not null,
    lines_read bigint not null,
    rows_landed bigint not null,
    rows_rejected bigint not null,
    started_at timestamptz not null,
    finished_at timestamptz not null default clock_timestamp()
);

-- The landing table: append-only, every copy kept.
create table if not exists raw.order_events (
    landing_seq bigint generated always as identity primary key,
    load_batch_id bigint not null,
    source_file text not null,
    source_line bigint not null,
    source_offset bigint not null,
    loaded_at timestamptz not null default now(),
    record jsonb not null,
    -- UTC minute of record.event_time (ingest/event_minute.py), null when that is not
    -- RFC 3339 with an offset
    event_minute timestamptz
);
create index if not exists order_events_load_batch_id_idx on raw.order_events (load_batch_id);
create index if not exists order_events_event_minute_idx on raw.order_events (event_minute);

-- Lines that could not be landed as a JSON object, with the reason.
create table if not exists raw.load_rejects (
    reject_id bigint generated always as identity primary key,
    load_batch_id bigint not null,
    source_file text not null,
    source_line bigint not null,
    source_offset bigint not null,
    reason text not null,
    detail text,
    raw_text text not null,
    raw_bytes bigint not null,
    rejected_at timestamptz not null default now()
);
create index if not exists load_rejects_load_batch_id_idx on raw.load_rejects (load_batch_id);

-- How far each source has been committed; written after its rows, in its own transaction.
create table if not exists raw.source_offsets (
    source_file text primary key,
    byte_offset bigint not null,
    line_number bigint not null,
    is_complete boolean not null default false,
    updated_at timestamptz not null default now()
);
-- Size on disk when the offset was recorded: tells whether a .gz file (whose offsets count
-- uncompressed bytes) has changed since it was completed.
alter table raw.source_offsets add column if not exists source_size bigint;
