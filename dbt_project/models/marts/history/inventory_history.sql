-- Stock history: one row per grain key (marketplace, account, sku, warehouse_id, stock_type) and
-- interval of unchanged quantities [valid_from, valid_to); valid_to null = the open interval.
--
-- Written only by a publish: it compares `inventory_data`, just merged, with the open intervals
-- of the accounts in `int_sync__publishable` (empty for a held-back or failed sync, so
-- nothing is written then). A key whose quantities differ gets its open interval closed at the
-- sync time and a new one opened; a key seen for the first time gets its first interval. A key
-- a complete snapshot no longer contains is zeroed in inventory_data, so its interval closes
-- and a zero interval opens, exactly as inventory_data shows it.
--
-- Idempotent: a rerun of the same publish (a hand-run `dbt build`, a forced full resync that
-- finds the same stock) finds the open interval equal to inventory_data and writes nothing; a
-- publish older than the open interval never rewrites it.
--
-- A change starts its interval at inventory_data's `updated_at` (the start of the sync that saw
-- it; in a normal publish, this publish's time): should the history build fail after the merge
-- (the sync then warns, see pipelines/sync/wap.py), the next publish catches up with each
-- change dated when it was published, not when history caught up.
--
-- Both adapters by delete+insert on (key, valid_from): a closing row replaces its open row.
-- dbt-duckdb 1.7 has no merge; dbt-mysql ignores `incremental_strategy` and always deletes by
-- the unique key, then inserts. `full_refresh=false`: a `--full-refresh` must not throw away
-- history that no raw table can rebuild (README: history starts at the upgrade).
{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['marketplace', 'account', 'sku', 'warehouse_id', 'stock_type', 'valid_from'],
    full_refresh=false,
    on_schema_change='append_new_columns',
    pre_hook=["{{ require_account_column() }}"],
    post_hook=["{{ ensure_history_indexes() }}"]
  )
}}

with publishable as (
    select marketplace, account, synced_at from {{ ref('int_sync__publishable') }}
),

published_state as (
    select
        {{ grain_columns('i.') }},
        i.quantity_present, i.quantity_reserved, i.quantity_available,
        p.synced_at, i.updated_at
    from {{ ref('inventory_data') }} i
    inner join publishable p on p.marketplace = i.marketplace and p.account = i.account
)

{% if is_incremental() %}
,

open_intervals as (
    select h.*
    from {{ this }} h
    inner join publishable p on p.marketplace = h.marketplace and p.account = h.account
    where h.valid_to is null
),

changed as (
    -- New keys, and keys whose open interval this (newer) publish contradicts; `changed_at`:
    -- when inventory_data took these quantities (never before the open interval began).
    select
        s.*,
        case when o.sku is null or s.updated_at > o.valid_from then s.updated_at else s.synced_at end as changed_at
    from published_state s
    left join open_intervals o on {{ same_grain('o', 's') }}
    where o.sku is null
       or (o.valid_from < s.synced_at
           and (o.quantity_present <> s.quantity_present or o.quantity_reserved <> s.quantity_reserved))
),

intervals as (
    -- the open interval, closed at this sync (replaces its open row: same key and valid_from)
    select
        {{ grain_columns('o.') }},
        o.valid_from, c.changed_at as valid_to,
        o.quantity_present, o.quantity_reserved, o.quantity_available
    from changed c
    inner join open_intervals o on {{ same_grain('o', 'c') }}
    union all
    -- the new open interval
    select
        {{ grain_columns() }},
        changed_at as valid_from, null as valid_to,
        quantity_present, quantity_reserved, quantity_available
    from changed
)

{% else %}
,

intervals as (
    -- The first build (the upgrade): history starts with the state this publish confirms.
    select
        {{ grain_columns() }},
        synced_at as valid_from, null as valid_to,
        quantity_present, quantity_reserved, quantity_available
    from published_state
)

{% endif %}

select
    {{ as_text('marketplace', 16) }} as marketplace,
    {{ as_text('sku', 64) }} as sku,
    {{ as_text('warehouse_id', 64) }} as warehouse_id,
    {{ as_text('stock_type', 16) }} as stock_type,
    {{ as_timestamp('valid_from') }} as valid_from,
    {{ as_timestamp('valid_to') }} as valid_to,
    {{ as_int('quantity_present') }} as quantity_present,
    {{ as_int('quantity_reserved') }} as quantity_reserved,
    {{ as_int('quantity_available') }} as quantity_available,
    {{ as_text('account', 32) }} as account  -- last: where `invsync migrate up` adds it to an older table
from intervals
