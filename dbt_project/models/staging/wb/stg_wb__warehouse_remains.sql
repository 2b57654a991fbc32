-- WB FBO stock from the warehouse-remains report (the fallback), each account's published load
-- only. One row per account, barcode and `warehouses[]` entry; `entry_kind` tells the real
-- places (`warehouse`) from the report's pseudo entries, which are totals, never places.
-- `place_kind` (aggregate or physical) is what the source read from the answer (null in loads
-- landed before it did).
select
    account,
    barcode as sku,
    {{ as_text('nm_id') }} as marketplace_product_id,
    vendor_code as offer_id,
    warehouse_name,
    case warehouse_name
        when 'В пути до получателей' then 'in_way_to_client'
        when 'В пути возвраты на склад WB' then 'in_way_from_client'
        when 'Всего находится на складах' then 'total'
        else 'warehouse'
    end as entry_kind,
    place_kind,
    {{ as_int('quantity') }} as quantity,
    _invalid_reason as invalid_reason,
    _dlt_load_id as load_id
from {{ optional_source('raw_wb', 'warehouse_remains', ['barcode', 'nm_id', 'vendor_code', 'warehouse_name', 'place_kind', 'quantity', '_invalid_reason', '_dlt_load_id'], per_load=true) }} r
