-- The seller's own WB warehouses.
select
    {{ as_text('id') }} as warehouse_id,
    name as warehouse_name
from {{ source('raw_wb', 'fbs_warehouses') }}
where _dlt_load_id = {{ publish_load_id('wb') }}
