{#-
  Which load of a marketplace is published. The sync runner passes the loads it has just
  checked in the environment variable INVSYNC_PUBLISH_LOADS (JSON, {"ozon": "<load id>", ...};
  an environment variable rather than a dbt var, because a changed `--vars` makes dbt re-parse
  the whole project). Without it (a person running `dbt build`) it is the load of the
  marketplace's latest finished sync, and only if that sync succeeded: after a failed or
  blocked sync nothing of that marketplace is published until a good one lands.
-#}
{% macro publish_load_id(marketplace) -%}
  {%- set loads = fromjson(env_var('INVSYNC_PUBLISH_LOADS', '{}') or '{}') -%}
  {%- if loads is mapping and loads.get(marketplace) -%}
    '{{ loads[marketplace] }}'
  {%- else -%}
    (select latest.load_id from (
        select load_id, status from {{ source('ops', 'sync_logs') }}
        where marketplace = '{{ marketplace }}' and status in ('success', 'partial', 'failed')
        order by started_at desc, id desc limit 1
     ) latest where latest.status = 'success')
  {%- endif -%}
{%- endmacro %}

{#-
  A raw table that exists only once its endpoint has returned data (dlt creates tables on
  first data). Missing: an empty relation with the named columns, so unions still compile.
-#}
{% macro optional_source(source_name, table_name, columns) -%}
  {%- set rel = source(source_name, table_name) -%}
  {%- if execute and adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) is none -%}
    (select {% for c in columns %}cast(null as {{ 'char' if target.type in ('mysql', 'mariadb') else 'varchar' }}) as {{ c }}{% if not loop.last %}, {% endif %}{% endfor %} from (select 1 as one) empty_source where 1 = 0)
  {%- else -%}
    {{ rel }}
  {%- endif -%}
{%- endmacro %}
