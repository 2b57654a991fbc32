-- One row per out-of-stock spell of a grain key: a run of consecutive intervals of
-- inventory_history with nothing available (quantity_available = 0; a product that vanished
-- from the answer is zeroed, so it is out of stock too). `ended_at` null = still out of stock.
--
-- `duration_hours`: to ended_at, or for an open spell to the latest publish of its
-- account of its marketplace (the last time it was confirmed). A spell already open when history started
-- (the upgrade) starts at that first publish: earlier stock is unknown.
--
-- Incremental: each publish rebuilds only the spells of its accounts' keys with an interval
-- boundary after the latest spell start or end the table knows (so every change since the last
-- build, including history that caught up after a failed build) or out of stock now (their
-- duration grows), from those keys' whole history; delete+insert on (key, started_at), since a
-- spell's start never moves. A rerun rebuilds the same rows; a held-back sync writes nothing.
{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['marketplace', 'account', 'sku', 'warehouse_id', 'stock_type', 'started_at'],
    full_refresh=false,
    on_schema_change='append_new_columns',
    pre_hook=["{{ require_account_column() }}"],
    post_hook=["{{ ensure_history_indexes(['marketplace', 'account', 'sku', 'warehouse_id', 'stock_type', 'started_at'], {'ix_stockouts_started': '(marketplace, started_at)'}) }}"]
  )
}}

{%- set key = grain_columns() %}

with publishable as (
    select marketplace, account, synced_at from {{ ref('int_sync__publishable') }}
),

{% if is_incremental() %}
known as (
    -- per marketplace and account, the latest spell start or end already in the table
    select marketplace, account, max(case when ended_at > started_at then ended_at else started_at end) as latest
    from {{ this }}
    group by marketplace, account
),

affected as (
    select distinct {{ grain_columns('h.') }}
    from {{ ref('inventory_history') }} h
    inner join publishable p on p.marketplace = h.marketplace and p.account = h.account
    left join known k on k.marketplace = h.marketplace and k.account = h.account
    where k.latest is null
       or h.valid_from > k.latest
       or h.valid_to > k.latest
       or (h.valid_to is null and h.quantity_available = 0)
),

key_history as (
    select h.*
    from {{ ref('inventory_history') }} h
    inner join affected a on {{ same_grain('a', 'h') }}
),
{% else %}
key_history as (
    select h.*
    from {{ ref('inventory_history') }} h
    inner join publishable p on p.marketplace = h.marketplace and p.account = h.account
),
{% endif %}

flagged as (
    select
        {{ key }}, valid_from, valid_to,
        case when quantity_available = 0 then 1 else 0 end as is_out,
        coalesce(lag(case when quantity_available = 0 then 1 else 0 end) over (
            partition by {{ key }} order by valid_from), 0) as was_out  -- MariaDB's lag() takes no default
    from key_history
),

numbered as (
    -- a spell starts where an out interval follows a stocked one (or none)
    select
        flagged.*,
        sum(case when is_out = 1 and was_out = 0 then 1 else 0 end) over (
            partition by {{ key }} order by valid_from rows between unbounded preceding and current row) as spell
    from flagged
),

spells as (
    select
        {{ key }},
        min(valid_from) as started_at,
        case when count(valid_to) = count(*) then max(valid_to) end as ended_at
    from numbered
    where is_out = 1
    group by {{ key }}, spell
)

select
    {{ as_text('s.marketplace', 16) }} as marketplace,
    {{ as_text('s.sku', 64) }} as sku,
    {{ as_text('s.warehouse_id', 64) }} as warehouse_id,
    {{ as_text('s.stock_type', 16) }} as stock_type,
    {{ as_timestamp('s.started_at') }} as started_at,
    {{ as_timestamp('s.ended_at') }} as ended_at,
    cast({{ seconds_between('s.started_at', 'coalesce(s.ended_at, p.synced_at)') }} / 3600.0 as decimal(14, 6)) as duration_hours,
    {{ as_text('s.account', 32) }} as account  -- last: where `invsync migrate up` adds it to an older table
from spells s
inner join publishable p on p.marketplace = s.marketplace and p.account = s.account
