-- Names of Market warehouses (FBY, LaaS) from GET /v2/warehouses, per account. The last list
-- landed counts: the stock answer gives ids only, and names change rarely.
select
    account,
    {{ as_text('id') }} as warehouse_id,
    max(name) as warehouse_name
from {{ optional_source('raw_ym', 'fby_warehouses', ['id', 'name']) }} w
where id is not null
group by account, {{ as_text('id') }}
