-- Names of Ozon's own (FBO) warehouses from /v1/warehouse/ozon/list, per account. The last
-- list landed counts: the FBO method gives ids only, and names change rarely.
select
    account,
    {{ as_text('warehouse_id') }} as warehouse_id,
    max(name) as warehouse_name
from {{ optional_source('raw_ozon', 'ozon_warehouses', ['warehouse_id', 'name']) }} w
where warehouse_id is not null
group by account, {{ as_text('warehouse_id') }}
