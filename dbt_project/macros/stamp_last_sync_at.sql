{#-
  After inventory_data is merged: every row of a published marketplace was confirmed by that
  sync's complete snapshot, so `last_sync_at` moves to the sync time (one set-based UPDATE).
-#}
{% macro stamp_last_sync_at() -%}
  {%- set publishable = ref('int_sync__publishable') -%}
  update {{ this }}
  set last_sync_at = (
      select p.synced_at from {{ publishable }} p where p.marketplace = {{ this }}.marketplace
  )
  where marketplace in (select marketplace from {{ publishable }})
    and last_sync_at < (
      select p.synced_at from {{ publishable }} p where p.marketplace = {{ this }}.marketplace
  )
{%- endmacro %}
