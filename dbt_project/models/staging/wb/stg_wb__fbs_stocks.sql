-- FBS amount per barcode and seller warehouse (published load only).
select
    {{ as_text('sku') }} as sku,
    {{ as_text('warehouse_id') }} as warehouse_id,
    {{ as_int('amount') }} as quantity_present,
    _dlt_load_id as load_id
from {{ optional_source('raw_wb', 'fbs_stocks', ['sku', 'warehouse_id', 'amount', '_dlt_load_id']) }} f
where _dlt_load_id = {{ publish_load_id('wb') }}
