-- One row per day and grain key: the day's stock in the schedules' time zone
-- (INVSYNC_SCHEDULE_TIMEZONE), from the intervals of inventory_history.
--
-- A day counts only the time history knows: from the key's first interval (the upgrade, or the
-- key's first publish) to the latest publish of its account, which confirmed the open
-- interval up to then. So the current day is partial (`hours_tracked` < 24) until a publish on
-- a later day rebuilds it.
--
-- Incremental: each publish rebuilds, for its published accounts only, the days from the last day
-- built (the partial one) to the publish's own day, so a rerun rebuilds the same rows and a
-- held-back sync (not in int_sync__publishable) writes nothing. delete+insert on
-- (key, stock_date) on both adapters. Days older than `history_daily_retention_days` (dbt var,
-- default 730) are deleted by the post-hook.
{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['marketplace', 'account', 'sku', 'warehouse_id', 'stock_type', 'stock_date'],
    full_refresh=false,
    on_schema_change='append_new_columns',
    pre_hook=["{{ require_account_column() }}"],
    post_hook=[
      "{{ ensure_history_indexes(['marketplace', 'account', 'sku', 'warehouse_id', 'stock_type', 'stock_date'], {'ix_daily_date': '(marketplace, stock_date)'}) }}",
      "{{ apply_daily_retention() }}"
    ]
  )
}}

{#- A column's value at the day's end (`ranked` below) -#}
{%- set by_rank = target.type in ('mysql', 'mariadb') %}
{%- set day_end = 'max(case when latest = 1 then {} end)' if by_rank else 'arg_max_null({}, local_from)' %}

with recursive publishable as (
    select marketplace, account, synced_at, {{ to_local_time('synced_at') }} as local_until
    from {{ ref('int_sync__publishable') }}
),

history_start as (
    select h.marketplace, h.account, cast(min({{ to_local_time('h.valid_from') }}) as date) as first_day
    from {{ ref('inventory_history') }} h
    inner join publishable p on p.marketplace = h.marketplace and p.account = h.account
    group by h.marketplace, h.account
),

{% if is_incremental() %}
built as (
    select marketplace, account, max(stock_date) as last_day from {{ this }} group by marketplace, account
),
{% endif %}

ranges as (
    select
        p.marketplace, p.account, p.synced_at, p.local_until,
        {% if is_incremental() %}coalesce(b.last_day, s.first_day){% else %}s.first_day{% endif %} as from_day,
        cast(p.local_until as date) as to_day
    from publishable p
    inner join history_start s on s.marketplace = p.marketplace and s.account = p.account
    {% if is_incremental() %}left join built b on b.marketplace = p.marketplace and b.account = p.account{% endif %}
),

days as (
    select marketplace, account, from_day as stock_date, to_day from ranges
    union all
    select marketplace, account, cast(stock_date + interval 1 day as date), to_day from days where stock_date < to_day
),

spans as (
    -- the intervals that can touch the days rebuilt (a day of slack for the zone's offset), in
    -- local time; an open interval is known up to the latest publish
    select
        {{ grain_columns('h.') }},
        h.quantity_present, h.quantity_available,
        {{ to_local_time('h.valid_from') }} as local_from,
        {{ to_local_time('coalesce(h.valid_to, r.synced_at)') }} as local_to
    from {{ ref('inventory_history') }} h
    inner join ranges r on r.marketplace = h.marketplace and r.account = h.account
    where h.valid_to is null or h.valid_to >= r.from_day - interval 1 day
),

day_bounds as (
    select
        marketplace, account, stock_date,
        {{ as_timestamp('stock_date') }} as day_start,
        {{ as_timestamp('stock_date + interval 1 day') }} as day_end
    from days
),

pieces as (
    -- each interval's part of each day, cut at the day's bounds (an open interval ends at the
    -- latest publish already)
    select
        {{ grain_columns('s.') }}, d.stock_date,
        s.quantity_present, s.quantity_available, s.local_from,
        {{ seconds_between(
            'case when s.local_from > d.day_start then s.local_from else d.day_start end',
            'case when s.local_to < d.day_end then s.local_to else d.day_end end') }} as seconds
    from spans s
    inner join day_bounds d
      on d.marketplace = s.marketplace
     and d.account = s.account
     and s.local_from < d.day_end
     and s.local_to > d.day_start
),

ranked as (
    -- The day's end is its latest piece (the intervals of a key never overlap, so one piece per
    -- key and day has the largest local_from). MySQL/MariaDB rank the pieces; DuckDB picks it in
    -- the aggregate below (arg_max_null), which spares a sort of every piece (about 2 of the
    -- model's 5 s of CPU at 100,000 products).
    select
        pieces.*{% if by_rank %},
        row_number() over (
            partition by {{ grain_columns() }}, stock_date
            order by local_from desc) as latest{% endif %}
    from pieces
)

select
    {{ as_text('marketplace', 16) }} as marketplace,
    {{ as_text('sku', 64) }} as sku,
    {{ as_text('warehouse_id', 64) }} as warehouse_id,
    {{ as_text('stock_type', 16) }} as stock_type,
    stock_date,
    {{ as_int(day_end.format('quantity_present')) }} as quantity_present_end,
    {{ as_int(day_end.format('quantity_available')) }} as quantity_available_end,
    {{ as_int('min(quantity_available)') }} as quantity_available_min,
    {{ as_int('max(quantity_available)') }} as quantity_available_max,
    cast(sum(case when quantity_available = 0 then seconds else 0 end) / 3600.0 as decimal(12, 6)) as hours_unavailable,
    cast(sum(seconds) / 3600.0 as decimal(12, 6)) as hours_tracked,
    {{ as_text('account', 32) }} as account  -- last: where `invsync migrate up` adds it to an older table
from ranked
group by {{ grain_columns() }}, stock_date
