-- The seller's own WB warehouses.
select
    {{ as_text('id') }} as warehouse_id,
    name as warehouse_name
from {{ optional_source('raw_wb', 'fbs_warehouses', ['id', 'name', '_dlt_load_id']) }}
where _dlt_load_id = {{ publish_load_id('wb') }}
