-- The accounts of each marketplace this build publishes (`publish_accounts`, macros/publish.sql),
-- one row per (marketplace, account), with its load and the sync time that confirms it. An
-- account whose latest sync failed (or was blocked by the checks) is absent, so nothing of it
-- changes in inventory_data; each account's rows are matched by (marketplace, account), so one
-- account's sync never touches another's. `account` is cast to the text type the staging models
-- tag their rows with (`optional_source`): on MySQL a cast takes the connection's collation,
-- which the joins on `account` then share.
{%- set named = [] %}
{%- for marketplace in var('marketplaces') %}
    {%- for account in publish_accounts(marketplace) %}{% do named.append((marketplace, account)) %}{% endfor %}
{%- endfor %}
{% for marketplace, account in named %}
select
    s.marketplace,
    {{ as_text('s.account', 32) }} as account,
    s.load_id,
    s.started_at as synced_at
from {{ source('ops', 'sync_logs') }} s
where s.marketplace = '{{ marketplace }}'
  and s.account = '{{ account }}'
  and s.load_id = {{ publish_load_id(marketplace, account) }}
{% if not loop.last %}union all{% endif %}
{% else %}{# nothing named (a sync that approved nothing): no rows, of the same shape #}
select s.marketplace, {{ as_text('s.account', 32) }} as account, s.load_id, s.started_at as synced_at
from {{ source('ops', 'sync_logs') }} s
where 1 = 0
{% endfor %}
