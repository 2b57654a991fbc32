{#- Indexes of the history tables on MySQL/MariaDB, where a delete+insert by key (dbt-mysql's
    incremental) and the open-interval lookup of every publish would otherwise scan the whole
    table: a unique index on `unique_cols` (which also makes a duplicate interval impossible)
    and the `extra` lookup indexes ({name: '(cols)'}). Idempotent (checked in
    information_schema). DuckDB needs none: it scans columns, and an ART index cannot be built
    in a transaction that deleted rows of its table (see ensure_inventory_indexes). -#}
{% macro ensure_history_indexes(unique_cols=['marketplace', 'account', 'sku', 'warehouse_id', 'stock_type', 'valid_from'],
                                extra={'ix_open': '(marketplace, valid_to)', 'ix_from': '(marketplace, valid_from)'}) -%}
  {%- if target.type in ('mysql', 'mariadb') -%}
    {%- set existing = [] -%}
    {%- if execute -%}
      {%- set rows = run_query("select distinct index_name from information_schema.statistics where table_schema = '" ~ this.schema ~ "' and table_name = '" ~ this.identifier ~ "'") -%}
      {%- for row in rows -%}{%- do existing.append(row[0]) -%}{%- endfor -%}
    {%- endif -%}
    {#- One statement each, run here: a hook of several statements ("create index …; select 1")
        leaves dbt-mysql's connection unusable for the COMMIT that follows. -#}
    {%- if execute and 'ux_grain' not in existing -%}
      {%- do run_query("create unique index ux_grain on " ~ this ~ " (" ~ unique_cols | join(', ') ~ ")") -%}
    {%- endif -%}
    {%- for name, cols in extra.items() if execute and name not in existing -%}
      {%- do run_query("create index " ~ name ~ " on " ~ this ~ " " ~ cols) -%}
    {%- endfor -%}
    select 1
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{#- The schedules' time zone (INVSYNC_SCHEDULE_TIMEZONE, the setting `Settings.schedule_timezone`
    checks; the sync passes it, see pipelines/sync/dbt.py `dbt_env`): the zone whose days
    inventory_daily counts. -#}
{% macro schedule_timezone() -%}
  {{ return(env_var('INVSYNC_SCHEDULE_TIMEZONE', 'Europe/Moscow')) }}
{%- endmacro %}

{#- A naive UTC timestamp as the schedules' local time. DuckDB: by the named zone (ICU, exact
    across daylight saving changes). MySQL/MariaDB: by the named zone when the server has its
    time zone tables loaded (mysql_tzinfo_to_sql), else by the zone's offset now (exact for
    zones without daylight saving, such as the default Europe/Moscow; elsewhere an hour off
    around a change). -#}
{% macro to_local_time(expr) -%}
  {%- set zone = schedule_timezone() -%}
  {%- if target.type in ('mysql', 'mariadb') -%}
    {%- set offset = modules.pytz.timezone(zone).utcoffset(modules.datetime.datetime.utcnow()) -%}
    {%- set minutes = (offset.total_seconds() / 60) | int -%}
    {%- set fixed = ('+' if minutes >= 0 else '-') ~ ('%02d:%02d' | format((minutes | abs) // 60, (minutes | abs) % 60)) -%}
    coalesce(convert_tz({{ expr }}, '+00:00', '{{ zone }}'), convert_tz({{ expr }}, '+00:00', '{{ fixed }}'))
  {%- else -%}
    ((({{ expr }}) at time zone 'UTC') at time zone '{{ zone }}')
  {%- endif -%}
{%- endmacro %}

{#- Seconds from `start` to `end` (timestamps), to the microsecond: hours summed from whole
    seconds would drift by a second per interval. -#}
{% macro seconds_between(start, end) -%}
  {%- if target.type in ('mysql', 'mariadb') -%} (timestampdiff(microsecond, {{ start }}, {{ end }}) / 1000000.0)
  {%- else -%} (date_diff('microsecond', {{ start }}, {{ end }}) / 1000000.0) {%- endif -%}
{%- endmacro %}

{#- The retention of inventory_daily in days: the dbt var `history_daily_retention_days`
    (default 730, two years; dbt_project.yml), read here only. Intervals (inventory_history) and
    stockouts are kept forever: they are small, and the daily rows can be rebuilt from them. -#}
{% macro history_daily_retention_days() -%}
  {%- set days = var('history_daily_retention_days', 730) | int -%}
  {%- if days < 1 -%}
    {{ exceptions.raise_compiler_error("history_daily_retention_days must be a whole number of days >= 1, got " ~ var('history_daily_retention_days')) }}
  {%- endif -%}
  {{ return(days) }}
{%- endmacro %}

{#- Post-hook of inventory_daily: drop the days older than the retention, counted back from the
    newest day of each published account of a marketplace (the publish's own clock, never the
    machine's). -#}
{% macro apply_daily_retention() -%}
  {%- set keep = history_daily_retention_days() -%}
  delete from {{ this }}
  where exists (
      select 1 from {{ ref('int_sync__publishable') }} p
      where p.marketplace = {{ this }}.marketplace and p.account = {{ this }}.account
    )
    and stock_date < (
      select cast(max({{ to_local_time('p.synced_at') }}) - interval {{ keep }} day as date)
      from {{ ref('int_sync__publishable') }} p
      where p.marketplace = {{ this }}.marketplace and p.account = {{ this }}.account
    )
{%- endmacro %}
