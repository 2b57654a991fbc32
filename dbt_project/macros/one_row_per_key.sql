{#-
  One row per grain key of the snapshot's stock rows (`int_inventory__snapshot`): `copies` counts
  the rows the answer carried for the key, the quantities and descriptive columns are each the
  largest of the copies (deterministic), `copies_agree` says whether every copy had the same
  known quantities. A key carried once is its own row (copies 1; it agrees when both of its
  quantities are known).

  The same rows on every warehouse; DuckDB's form is cheaper. One `group by` over every row,
  carrying seven text columns, was most of DuckDB's snapshot build (at 100,000 products about
  half of its CPU and ~110 MB of its peak buffer, benchmarks/results.md). On DuckDB only the keys
  are grouped, to find the repeated ones (rare); the rows of the other keys pass through as they
  are and only the repeated keys are aggregated; the snapshot has DuckDB compute `stock` once
  for its readers (`duckdb_cte('materialized')`). MySQL/MariaDB keep the single `group by`:
  there a CTE read three times may be computed three times.
-#}
{% macro one_row_per_key(stock) -%}
  {%- if target.type in ('mysql', 'mariadb') -%}
    {{ aggregate_copies(stock) }}
  {%- else -%}
    with repeated_keys as (
        select {{ grain_columns() }} from {{ stock }} group by {{ grain_columns() }} having count(*) > 1
    )
    select
        {{ grain_columns('s.') }},
        1 as copies,
        s.marketplace_product_id, s.offer_id, s.warehouse_name, s.warehouse_kind, s.product_name, s.barcode,
        s.quantity_present, s.quantity_reserved,
        case when s.quantity_present is not null and s.quantity_reserved is not null then 1 else 0 end as copies_agree,
        s.invalid_reason
    from {{ stock }} s
    where not exists (select 1 from repeated_keys r where {{ same_grain('r', 's') }})
    union all
    {{ aggregate_copies(stock, only_repeated_keys=true) }}
  {%- endif -%}
{%- endmacro %}

{#- The copies of each key aggregated (of the keys in `repeated_keys` only, when asked). -#}
{% macro aggregate_copies(stock, only_repeated_keys=false) -%}
    select
        {{ grain_columns() }},
        count(*) as copies,
        max(marketplace_product_id) as marketplace_product_id,
        max(offer_id) as offer_id,
        max(warehouse_name) as warehouse_name,
        max(warehouse_kind) as warehouse_kind,
        max(product_name) as product_name,
        max(barcode) as barcode,
        max(quantity_present) as quantity_present,
        max(quantity_reserved) as quantity_reserved,
        -- the copies agree when every quantity is known and the same in all of them
        case
            when min(quantity_present) = max(quantity_present) and count(quantity_present) = count(*)
             and min(quantity_reserved) = max(quantity_reserved) and count(quantity_reserved) = count(*)
            then 1 else 0
        end as copies_agree,
        max(invalid_reason) as invalid_reason
    from {{ stock }} s
    {% if only_repeated_keys %}where exists (select 1 from repeated_keys r where {{ same_grain('r', 's') }}){% endif %}
    group by {{ grain_columns() }}
{%- endmacro %}
