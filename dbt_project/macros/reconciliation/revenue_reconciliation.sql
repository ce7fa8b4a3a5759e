{#- The fact compared with revenue recomputed independently from the landing table, NOT
    through the dedup model: the one recomputation, read by recon_revenue_1m (the run's
    minutes) and recon_revenue_1m_full (all history), and confirmed by the checks.

    The copies are raw landing rows of the batches a run has seen (recorded as processed,
    or in the current run's scope; a batch landed during a build counts on neither side),
    less the rows the contract rejected (int_order_events_rejected). The earliest copy of
    each key wins, independently of the dedup.

    The run's minutes: those of its scope's landed rows and those of the fact rows its build
    recomputed. A copy in those minutes whose key was first landed in another minute is found
    through the duplicates model: its kept_landing_seq is used only as a pointer, the copy it
    points to is read back from landing, and the earliest copy found wins. A copy the
    duplicates model missed would count here and not in the fact: a mismatch, not a blind
    spot. -#}
{% macro revenue_reconciliation(full) -%}
{%- set copy_columns -%}
landed.landing_seq,
        nullif({{ json_text('landed.record', 'order_id') }}, '') as order_id,
        nullif({{ json_text('landed.record', 'event_id') }}, '') as event_id,
        nullif({{ json_text('landed.record', 'event_type') }}, '') as event_type,
        landed.event_minute,
        nullif({{ json_text('landed.record', 'amount') }}, '') as amount_text,
        nullif({{ json_text('landed.record', 'currency') }}, '') as currency
{%- endset -%}
{%- set seen_and_valid -%}
(
            exists (
                select 1 as is_in_run
                from {{ ref('int_load_batches_unprocessed') }} as run_batches
                where run_batches.load_batch_id = landed.load_batch_id
            )
            or exists (
                select 1 as is_processed
                from {{ ref('stg_countonce__processed_batches') }} as processed
                where processed.load_batch_id = landed.load_batch_id
            )
        )
        and not exists (
            select 1 as is_rejected
            from {{ ref('int_order_events_rejected') }} as rejected
            where rejected.landing_seq = landed.landing_seq
        )
{%- endset -%}
{%- set window_minute_list = 'select window_minutes.minute from window_minutes' -%}

with

{% if full %}

candidate_copies as (
    select {{ copy_columns }}
    from {{ source('shopflow', 'order_events') }} as landed
    where {{ seen_and_valid }}
),

fact_rows as (
    select * from {{ ref('fact_revenue_1m') }}
),
{% else %}

run_batches as (
    select * from {{ ref('int_load_batches_unprocessed') }}
),

fact_touched as (
    select fact.minute
    from {{ ref('fact_revenue_1m') }} as fact
    where {{ in_subquery(
        'fact.invocation_id', 'select run_batches.invocation_id from run_batches'
    ) }}
),

landed_touched as (
    select landed.event_minute as minute
    from {{ source('shopflow', 'order_events') }} as landed
    where
        landed.event_minute is not null
        and {{ in_subquery(
            'landed.load_batch_id', 'select run_batches.load_batch_id from run_batches'
        ) }}
),

window_minutes as (
    select fact_touched.minute from fact_touched
    union
    select landed_touched.minute from landed_touched
),

window_copies as (
    select {{ copy_columns }}
    from {{ source('shopflow', 'order_events') }} as landed
    where
        {{ in_subquery('landed.event_minute', window_minute_list) }}
        and {{ seen_and_valid }}
),

-- The kept copy of each duplicate landed in the window minutes.
kept_pointers as (
    select duplicates.kept_landing_seq as landing_seq
    from {{ ref('int_order_event_duplicates') }} as duplicates
    where {{ in_subquery('duplicates.event_minute', window_minute_list) }}
),

-- Only those outside the window minutes: the others are window copies already.
pointed_copies as (
    select {{ copy_columns }}
    from {{ source('shopflow', 'order_events') }} as landed
    where
        {{ in_subquery(
            'landed.landing_seq', 'select kept_pointers.landing_seq from kept_pointers'
        ) }}
        and not {{ in_subquery('landed.event_minute', window_minute_list) }}
        and {{ seen_and_valid }}
),

candidate_copies as (
    select * from window_copies
    union all
    select * from pointed_copies
),

fact_rows as (
    select * from {{ ref('fact_revenue_1m') }}
    where {{ in_subquery('minute', window_minute_list) }}
),
{% endif %}

numbered_copies as (
    select
        *,
        row_number() over (
            partition by order_id, event_id
            order by landing_seq
        ) as copy_number
    from candidate_copies
),

-- Amounts are cast here, on kept money events only: a rejected row may hold anything.
landing_revenue as (
    select
        event_minute as minute,
        currency,
        cast(sum(
            case when event_type = 'paid' then cast(amount_text as {{ type_money() }}) else 0 end
        ) as {{ type_money_sum() }}) as gross_paid_amount,
        cast(sum(
            case
                when event_type = 'refunded' then cast(amount_text as {{ type_money() }}) else 0
            end
        ) as {{ type_money_sum() }}) as refunded_amount,
        sum(case when event_type = 'paid' then 1 else 0 end) as paid_event_count,
        sum(case when event_type = 'refunded' then 1 else 0 end) as refund_event_count
    from numbered_copies
    where
        copy_number = 1
        and event_type in ('paid', 'refunded')
        {% if not full %}
        and {{ in_subquery('event_minute', window_minute_list) }}
        {% endif %}
    group by event_minute, currency
),

compared as (
    select
        coalesce(fact_rows.minute, landing_revenue.minute) as minute,
        coalesce(fact_rows.currency, landing_revenue.currency) as currency,
        fact_rows.net_amount as fact_net_amount,
        cast(
            landing_revenue.gross_paid_amount - landing_revenue.refunded_amount
            as {{ type_money_sum() }}
        ) as landing_net_amount,
        fact_rows.gross_paid_amount as fact_gross_paid_amount,
        landing_revenue.gross_paid_amount as landing_gross_paid_amount,
        fact_rows.refunded_amount as fact_refunded_amount,
        landing_revenue.refunded_amount as landing_refunded_amount,
        fact_rows.paid_event_count as fact_paid_event_count,
        landing_revenue.paid_event_count as landing_paid_event_count,
        fact_rows.refund_event_count as fact_refund_event_count,
        landing_revenue.refund_event_count as landing_refund_event_count
    from fact_rows
    full outer join landing_revenue
        on
            fact_rows.minute = landing_revenue.minute
            and fact_rows.currency = landing_revenue.currency
),

final as (
    select
        *,
        coalesce(
            fact_gross_paid_amount = landing_gross_paid_amount
            and fact_refunded_amount = landing_refunded_amount
            and fact_net_amount = landing_net_amount
            and fact_paid_event_count = landing_paid_event_count
            and fact_refund_event_count = landing_refund_event_count,
            false
        ) as is_match,
        '{{ "full" if full else "window" }}' as reconciliation_scope
    from compared
)

select * from final
{%- endmacro %}
