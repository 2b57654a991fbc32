{#-
  Which seller accounts of a marketplace this build reads, and which load of each is published.
  Every raw load is one account's: the account `default` lands into the marketplace's dataset
  (`<prefix>raw_ozon`), any other account `a` into `<that dataset>__a`, same tables and columns.
  - A sync passes the loads it has just checked in the environment variable
    INVSYNC_PUBLISH_LOADS (JSON, {"ozon": {"default": "<load id>", "acme": "<load id>"}, ...};
    the older {"ozon": "<load id>"} means {"ozon": {"default": "<load id>"}}; an environment
    variable rather than a dbt var, because a changed `--vars` makes dbt re-parse the whole
    project). An account (or marketplace) it does not name is not read at all: its raw tables
    may hold another sync's unchecked load.
  - Unset (a person running `dbt build`): every account with a sync_logs row that landed a
    load, each with the load of that account's latest sync that landed one, and only if that
    sync was published (success or partial). A load that is still running, failed its checks
    or was interrupted publishes nothing of its account until a good one lands.
-#}

{#-
  The loads a sync passed in INVSYNC_PUBLISH_LOADS as {marketplace: {account: load id}} (a
  marketplace's single load id is its `default` account's; anything but a JSON object names
  none), or none when it is unset: a person running dbt.
-#}
{% macro passed_loads() -%}
  {#- Read only when dbt executes: an environment variable read while dbt parses makes each
      file that reads it (18 models and their YAML) re-parse whenever its value changes, i.e.
      on every sync. While parsing, the build reads every marketplace and `sync_logs`, as by
      hand: the dependencies dbt records are then the same whatever the sync passes (a
      superset of what each build compiles). -#}
  {%- set passed = env_var('INVSYNC_PUBLISH_LOADS', '') if execute else '' -%}
  {%- if not passed -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set loads = fromjson(passed) -%}
  {%- set named = {} -%}
  {%- for marketplace, accounts in (loads.items() if loads is mapping else []) -%}
    {%- set by_account = accounts if accounts is mapping else {'default': accounts} -%}
    {%- set kept = {} -%}
    {%- for account, load_id in by_account.items() if load_id -%}
      {%- do kept.update({checked_account(account): load_id}) -%}
    {%- endfor -%}
    {%- do named.update({marketplace: kept}) -%}
  {%- endfor -%}
  {{ return(named) }}
{%- endmacro %}

{#- An account id as the accounts file allows it (pipelines/config_accounts.py `ACCOUNT_ID`): it
    names a dataset and is written into the SQL, so anything else stops the build. -#}
{% macro checked_account(account) -%}
  {%- if account is not string or not modules.re.fullmatch('[a-z][a-z0-9_]{0,31}', account) -%}
    {{ exceptions.raise_compiler_error("not a seller account id (" ~ account ~ "): expected [a-z][a-z0-9_]{0,31}") }}
  {%- endif -%}
  {{ return(account) }}
{%- endmacro %}

{#-
  The accounts of a marketplace this build reads, sorted: those the sync named, or, by hand,
  those with a sync that landed a load (listed at execute time; while dbt parses, and before a
  marketplace's first sync, `default`, whose load is then null, as on a new warehouse).
-#}
{% macro publish_accounts(marketplace) -%}
  {%- set loads = passed_loads() -%}
  {%- if loads is not none -%}
    {{ return(loads.get(marketplace, {}) | list | sort) }}
  {%- endif -%}
  {%- set logs = source('ops', 'sync_logs') -%}
  {%- set accounts = [] -%}
  {%- if execute -%}
    {%- set rows = run_query("select distinct account from " ~ logs ~ " where marketplace = '" ~ marketplace ~ "' and load_id is not null order by account") -%}
    {%- for row in rows -%}{%- do accounts.append(checked_account(row[0])) -%}{%- endfor -%}
  {%- endif -%}
  {{ return(accounts or ['default']) }}
{%- endmacro %}

{#- The published load of one account of a marketplace (SQL: a quoted id, a subquery, or null). -#}
{% macro publish_load_id(marketplace, account='default') -%}
  {%- set loads = passed_loads() -%}
  {%- if loads is not none -%}
    {%- set load_id = loads.get(marketplace, {}).get(account) -%}
    {%- if load_id -%} '{{ load_id }}' {%- else -%} null {%- endif -%}
  {%- else -%}
    (select latest.load_id from (
        select load_id, status from {{ source('ops', 'sync_logs') }}
        where marketplace = '{{ marketplace }}' and account = '{{ account }}' and load_id is not null
        order by started_at desc, id desc limit 1
     ) latest where latest.status in ('success', 'partial'))
  {%- endif -%}
{%- endmacro %}

{#-
  Whether this build publishes a marketplace: a sync names its loads (INVSYNC_PUBLISH_LOADS) and
  builds only the models of the marketplaces with at least one account named
  (pipelines/sync/dbt.py `STAGE`), so a marketplace it does not name is not read at all (its
  views may be stale, or not yet exist on a new warehouse). Unset (a person running
  `dbt build`): every marketplace.
-#}
{% macro publishes(marketplace) -%}
  {%- set loads = passed_loads() -%}
  {{ return(loads is none or (loads.get(marketplace, {}) | length) > 0) }}
{%- endmacro %}

{#-
  A marketplace's raw table, as read by its staging model: the union over the accounts this
  build reads (`publish_accounts`) of each account's table, in that account's dataset, tagged
  with an `account` column (text of one type on both warehouses: `as_text`) and holding exactly
  the named `columns` (named, not `*`: two accounts' tables may order their columns apart).
  `per_load`: each account's rows of its published load only (a snapshot table); without it the
  whole table (a catalog merged across loads).
  dlt creates a table only once its endpoint has returned data, and a column only once some
  answer carried the field (e.g. the `warehouse_name` only a fallback method sends), so for each
  account a missing table reads as no rows and a missing column as nulls of that name.
  The marketplace is the source's name without `raw_` (the sources are `raw_<marketplace>`).
-#}
{% macro optional_source(source_name, table_name, columns, per_load=false) -%}
  {%- set marketplace = source_name[4:] -%}
  {%- if not source_name.startswith('raw_') or marketplace not in var('marketplaces') -%}
    {{ exceptions.raise_compiler_error("optional_source reads a marketplace's raw_<name> source, not " ~ source_name) }}
  {%- endif -%}
  {%- set base = source(source_name, table_name) -%}
  {%- set text_type = 'char' if target.type in ('mysql', 'mariadb') else 'varchar' -%}
  {%- set branches = [] -%}
  {%- for account in publish_accounts(marketplace) -%}
    {%- set rel = base if account == 'default' else base.incorporate(path={'schema': base.schema ~ '__' ~ account}) -%}
    {%- set relation = adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) if execute else rel -%}
    {%- set present = [] if relation is none else (adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list if execute else columns) -%}
    {%- set selected = [] -%}
    {%- for c in columns -%}
      {%- do selected.append(adapter.quote(c) if c in present else 'cast(null as ' ~ text_type ~ ') as ' ~ adapter.quote(c)) -%}
    {%- endfor -%}
    {%- set tagged = 'select ' ~ (selected | join(', ')) ~ ', ' ~ as_text("'" ~ account ~ "'", 32) ~ ' as account' -%}
    {%- if relation is none -%}
      {%- do branches.append(tagged ~ ' from (select 1 as one) empty_source where 1 = 0') -%}
    {%- elif per_load -%}
      {%- do branches.append(tagged ~ ' from ' ~ rel ~ ' landed where _dlt_load_id = ' ~ publish_load_id(marketplace, account)) -%}
    {%- else -%}
      {%- do branches.append(tagged ~ ' from ' ~ rel ~ ' landed') -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if not branches -%}{#- no account read (a marketplace the sync did not name): no rows -#}
    {%- set nulls = [] -%}
    {%- for c in columns + ['account'] -%}{%- do nulls.append('cast(null as ' ~ text_type ~ ') as ' ~ adapter.quote(c)) -%}{%- endfor -%}
    {%- do branches.append('select ' ~ (nulls | join(', ')) ~ ' from (select 1 as one) empty_source where 1 = 0') -%}
  {%- endif -%}
  ({{ branches | join(' union all ') }})
{%- endmacro %}

{#-
  The accounts of each marketplace this build publishes (`publish_accounts`), one row per
  (marketplace, account), with its load and the sync time that confirms it: the body of the view
  `int_sync__publishable`, which the publish reads. The snapshot reads the same rows through this
  macro rather than through the view, so the view is not a node of the staging build: a sync
  builds it once, with only the approved loads, in the publish build (pipelines/sync/dbt.py
  `PUBLISH`), and a Dagster run needs no dbt invocation for it alone. An account whose latest sync
  failed (or was blocked by the checks) is absent. `account` is cast to the text type the staging
  models tag their rows with (`optional_source`): on MySQL a cast takes the connection's
  collation, which the joins on `account` then share.
-#}
{% macro publishable_accounts() -%}
  {%- set named = [] -%}
  {%- for marketplace in var('marketplaces') -%}
    {%- for account in publish_accounts(marketplace) %}{% do named.append((marketplace, account)) %}{% endfor -%}
  {%- endfor -%}
  {%- for marketplace, account in named %}
    select s.marketplace, {{ as_text('s.account', 32) }} as account, s.load_id, s.started_at as synced_at
    from {{ source('ops', 'sync_logs') }} s
    where s.marketplace = '{{ marketplace }}' and s.account = '{{ account }}'
      and s.load_id = {{ publish_load_id(marketplace, account) }}
    {% if not loop.last %}union all{% endif %}
  {%- else %}{# nothing named (a sync that approved nothing): no rows, of the same shape #}
    select s.marketplace, {{ as_text('s.account', 32) }} as account, s.load_id, s.started_at as synced_at
    from {{ source('ops', 'sync_logs') }} s
    where 1 = 0
  {%- endfor %}
{%- endmacro %}
