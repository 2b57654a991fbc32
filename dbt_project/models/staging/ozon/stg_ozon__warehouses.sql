-- Each account's own warehouses (its published load); `is_rfbs` decides FBS vs realFBS for their stock.
select
    account,
    {{ as_text('warehouse_id') }} as warehouse_id,
    name as warehouse_name,
    case when lower({{ as_text('is_rfbs') }}) in ('true', '1') then 'realFBS' else 'FBS' end as stock_type,
    status
from {{ optional_source('raw_ozon', 'warehouses', ['warehouse_id', 'name', 'is_rfbs', 'status'], per_load=true) }} w
