-- The seller's own warehouses; `is_rfbs` decides FBS vs realFBS for their stock.
select
    {{ as_text('warehouse_id') }} as warehouse_id,
    name as warehouse_name,
    case when is_rfbs then 'realFBS' else 'FBS' end as stock_type,
    status
from {{ source('raw_ozon', 'warehouses') }}
where _dlt_load_id = {{ publish_load_id('ozon') }}
