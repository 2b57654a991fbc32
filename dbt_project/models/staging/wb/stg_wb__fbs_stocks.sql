-- Stock per account and size (chrt_id) on each seller warehouse (/api/v3/stocks/{warehouseId}),
-- each account's published load only.
select
    account,
    {{ as_text('chrt_id') }} as chrt_id,
    {{ as_text('warehouse_id') }} as warehouse_id,
    {{ as_int('amount') }} as quantity_present,
    _invalid_reason as invalid_reason,
    _dlt_load_id as load_id
from {{ optional_source('raw_wb', 'fbs_stocks', ['chrt_id', 'warehouse_id', 'amount', '_invalid_reason', '_dlt_load_id'], per_load=true) }} f
where chrt_id is not null
