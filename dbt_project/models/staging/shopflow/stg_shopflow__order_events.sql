{#- Typed and validated against the order_events contract (version 1): the contract's one
    home, read by every model and check that needs to know whether a row is valid. Nothing
    here can raise on bad data: every cast is guarded by the validation that precedes it,
    and an engine whose casts give null instead of raising (Spark without ANSI mode) still
    rejects the row, because a null time or amount is itself a reject reason. -#}

{%- set money_event_types = "('paid', 'refunded')" %}
{#- Non-negative, at most 12 digits before the point (leading zeros aside), at most 2 after. -#}
{%- set valid_amount = '^0*[0-9]{1,12}([.][0-9]{1,2})?$' %}
{#- Below 10^18 (leading zeros aside), so it and its neighbours fit a bigint. -#}
{%- set valid_sequence = '^0*[0-9]{1,18}$' %}
{%- set future_limit = add_time('minute', var('future_margin_minutes') | int, 'loaded_at') %}

with

source as (
    select * from {{ source('shopflow', 'order_events') }}
),

extracted as (
    select
        landing_seq,
        load_batch_id,
        source_file,
        source_line,
        loaded_at,
        event_minute,
        record,
        nullif({{ json_text('record', 'event_id') }}, '') as event_id,
        nullif({{ json_text('record', 'order_id') }}, '') as order_id,
        nullif({{ json_text('record', 'event_type') }}, '') as event_type,
        nullif({{ json_text('record', 'event_time') }}, '') as event_time_text,
        nullif({{ json_text('record', 'amount') }}, '') as amount_text,
        nullif({{ json_text('record', 'currency') }}, '') as currency,
        nullif({{ json_text('record', 'customer_id') }}, '') as customer_id,
        nullif({{ json_text('record', 'producer_id') }}, '') as producer_id_text,
        nullif({{ json_text('record', 'sequence') }}, '') as sequence_text,
        {{ json_is_string('record', 'event_id') }} as is_event_id_string,
        {{ json_is_string('record', 'order_id') }} as is_order_id_string,
        {{ json_is_string('record', 'producer_id') }} as is_producer_id_string
    from source
),

-- The producer's stamp is optional, but whole: both fields or neither.
sequenced as (
    select
        *,
        case
            when producer_id_text is null and sequence_text is null then null
            when producer_id_text is null then 'producer_id_missing'
            when not is_producer_id_string then 'producer_id_not_a_string'
            when length(producer_id_text) > 128 then 'producer_id_too_long'
            when sequence_text is null then 'sequence_missing'
            when not {{ matches_regex('sequence_text', valid_sequence) }}
                then
                    case
                        when not {{ matches_regex('sequence_text', '^-?[0-9]+$') }}
                            then 'sequence_not_an_integer'
                        when sequence_text like '-%' then 'sequence_negative'
                        else 'sequence_out_of_range'
                    end
        end as producer_reject_reason
    from extracted
),

timed as (
    select
        *,
        -- event_minute is null exactly when event_time is not RFC 3339 with an offset, so
        -- the cast never sees another text. The minute is the text's own (a leap second,
        -- 23:59:60, counts in 23:59; a fraction finer than a microsecond is cut, not rounded
        -- up into the next minute), and event_at is held inside it.
        case
            when event_minute is not null
                then least(
                    {{ timestamp_utc('event_time_text') }},
                    {{ add_time('microsecond', 59999999, 'event_minute') }}
                )
        end as event_at
    from sequenced
),

validated as (
    select
        *,
        case
            when order_id is null then 'order_id_missing'
            when not is_order_id_string then 'order_id_not_a_string'
            when length(order_id) > 128 then 'order_id_too_long'
            when event_id is null then 'event_id_missing'
            when not is_event_id_string then 'event_id_not_a_string'
            when length(event_id) > 128 then 'event_id_too_long'
            when event_type is null then 'event_type_missing'
            when event_type not in ('created', 'paid', 'refunded', 'cancelled')
                then 'event_type_unknown'
            when event_time_text is null then 'event_time_missing'
            when event_minute is null or event_at is null then 'event_time_invalid'
            -- event_at lies in [event_minute, event_minute + 1 minute): the cast is needed
            -- only when the margin ends inside that minute.
            when
                {{ add_time('minute', 1, 'event_minute') }} > {{ future_limit }}
                and event_at > {{ future_limit }}
                then 'event_time_in_future'
            when amount_text is null and event_type in {{ money_event_types }}
                then 'amount_missing'
            -- One pattern for the usual case; the precise reason only for a bad amount.
            when not {{ matches_regex('amount_text', valid_amount) }}
                then
                    case
                        when not {{ matches_regex('amount_text', '^-?[0-9]+([.][0-9]+)?$') }}
                            then 'amount_not_numeric'
                        when amount_text like '-%' then 'amount_negative'
                        when {{ matches_regex('amount_text', '[.][0-9]{3,}$') }}
                            then 'amount_too_precise'
                        else 'amount_out_of_range'
                    end
            when currency is null and event_type in {{ money_event_types }}
                then 'currency_missing'
            when not {{ matches_regex('currency', '^[A-Z]{3}$') }} then 'currency_invalid'
            else producer_reject_reason
        end as reject_reason
    from timed
),

final as (
    select
        landing_seq,
        load_batch_id,
        source_file,
        source_line,
        loaded_at,
        event_id,
        order_id,
        event_type,
        event_at,
        event_minute,
        -- Its own test, not reject_reason: a consumer filtering on reject_reason would
        -- otherwise evaluate the whole validation twice per row.
        cast(
            case when {{ matches_regex('amount_text', valid_amount) }} then amount_text end
            as {{ type_money() }}
        ) as amount,
        currency,
        customer_id,
        -- Valid or null, whatever else the row breaks: a rejected line still arrived.
        case when producer_reject_reason is null then producer_id_text end as producer_id,
        cast(
            case when producer_reject_reason is null then sequence_text end
            as {{ dbt.type_bigint() }}
        ) as sequence,
        reject_reason,
        event_time_text,
        amount_text,
        record
    from validated
)

select * from final
