-- The marketplaces this build publishes, with the load and the sync time that confirms them.
-- A marketplace whose latest sync failed (or was blocked by the checks) is absent, so
-- nothing of it changes in inventory_data.
{% for marketplace in var('marketplaces') %}
select
    s.marketplace,
    s.load_id,
    s.started_at as synced_at
from {{ source('ops', 'sync_logs') }} s
where s.marketplace = '{{ marketplace }}'
  and s.load_id = {{ publish_load_id(marketplace) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
