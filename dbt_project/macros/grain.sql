{#-
  The grain of the inventory tables: one seller account's stock of one sku, in one warehouse,
  under one stock type. `account` is the seller account (README, "Several seller accounts"):
  `default` for the single-account variables, the accounts file's ids for the others.

  grain_columns(): the key as a column list, for group by / partition by / select.
  same_grain(a, b): the join of two relations on the whole key, so no join can forget a column.
-#}
{% macro grain_columns(prefix='') -%}
  {%- for column in ['marketplace', 'account', 'sku', 'warehouse_id', 'stock_type'] -%}
    {{ prefix }}{{ column }}{% if not loop.last %}, {% endif %}
  {%- endfor -%}
{%- endmacro %}

{% macro same_grain(a, b) -%}
  {%- for column in ['marketplace', 'account', 'sku', 'warehouse_id', 'stock_type'] -%}
    {{ a }}.{{ column }} = {{ b }}.{{ column }}{% if not loop.last %} and {% endif %}
  {%- endfor -%}
{%- endmacro %}

{#-
  Pre-hook of the incremental marts: a table from before the account was part of the grain
  cannot be merged by the new key (its rows would not match and would be written twice).
  `invsync migrate up` (which every sync runs first) gives it the column, every row as `default`.
-#}
{% macro require_account_column() -%}
  {%- set relation = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) if execute else none -%}
  {%- if relation is not none and 'account' not in (adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list) -%}
    {{ exceptions.raise_compiler_error(this.identifier ~ " predates seller accounts (it has no `account` column): run `invsync migrate up` first, which keeps every row as the account 'default'") }}
  {%- endif -%}
  select 1
{%- endmacro %}
