{#-
  Which load of a marketplace is published.
  - A sync passes the loads it has just checked in the environment variable
    INVSYNC_PUBLISH_LOADS (JSON, {"ozon": "<load id>", ...}; an environment variable rather
    than a dbt var, because a changed `--vars` makes dbt re-parse the whole project). A
    marketplace it does not list is not published (null): its raw tables may hold another
    sync's unchecked load.
  - Unset (a person running `dbt build`): the load of the marketplace's latest sync that
    landed one, and only if that sync was published (success or partial). A load that is
    still running, failed its checks or was interrupted publishes nothing until a good one lands.
-#}
{% macro publish_load_id(marketplace) -%}
  {%- set loads = passed_loads() -%}
  {%- if loads is not none -%}
    {%- if loads.get(marketplace) -%} '{{ loads[marketplace] }}' {%- else -%} null {%- endif -%}
  {%- else -%}
    (select latest.load_id from (
        select load_id, status from {{ source('ops', 'sync_logs') }}
        where marketplace = '{{ marketplace }}' and load_id is not null
        order by started_at desc, id desc limit 1
     ) latest where latest.status in ('success', 'partial'))
  {%- endif -%}
{%- endmacro %}

{#-
  Whether this build publishes a marketplace: a sync names its loads (INVSYNC_PUBLISH_LOADS) and
  builds only those marketplaces' models (pipelines/sync/dbt.py `STAGE`), so a marketplace it does
  not name is not read at all (its views may be stale, or not yet exist on a new warehouse).
  Unset (a person running `dbt build`): every marketplace.
-#}
{% macro publishes(marketplace) -%}
  {%- set loads = passed_loads() -%}
  {%- if loads is none or loads.get(marketplace) -%}
    {{ return(true) }}
  {%- endif -%}
  {{ return(false) }}
{%- endmacro %}

{#-
  The loads a sync passed in INVSYNC_PUBLISH_LOADS ({marketplace: load id}; anything but a JSON
  object names none), or none when it is unset: a person running dbt.
-#}
{% macro passed_loads() -%}
  {%- set passed = env_var('INVSYNC_PUBLISH_LOADS', '') -%}
  {%- if not passed -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set loads = fromjson(passed) -%}
  {{ return(loads if loads is mapping else {}) }}
{%- endmacro %}

{#-
  A raw table that exists only once its endpoint has returned data (dlt creates tables on
  first data), with columns that exist only once some answer carried the field (e.g. the
  `warehouse_name` only a fallback method sends). Missing table: an empty relation with the
  named columns, so unions still compile; missing columns: null columns of those names.
-#}
{% macro optional_source(source_name, table_name, columns) -%}
  {%- set rel = source(source_name, table_name) -%}
  {%- set text_type = 'char' if target.type in ('mysql', 'mariadb') else 'varchar' -%}
  {%- set relation = adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) if execute else rel -%}
  {%- if relation is none -%}
    (select {% for c in columns %}cast(null as {{ text_type }}) as {{ adapter.quote(c) }}{% if not loop.last %}, {% endif %}{% endfor %} from (select 1 as one) empty_source where 1 = 0)
  {%- else -%}
    {%- set present = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list if execute else columns -%}
    {%- set missing = columns | reject('in', present) | list -%}
    {%- if missing -%}
      (select landed.*{% for c in missing %}, cast(null as {{ text_type }}) as {{ adapter.quote(c) }}{% endfor %} from {{ rel }} landed)
    {%- else -%}
      {{ rel }}
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}
