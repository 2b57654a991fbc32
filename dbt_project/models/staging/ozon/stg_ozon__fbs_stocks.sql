-- FBS and rFBS stock per account and seller warehouse (each account's published load only),
-- from the method that account's load used: /v1/product/info/warehouse/stocks per warehouse,
-- or, when that method went away during the sync, only the complete answer of
-- /v2/product/info/stocks-by-warehouse/fbs (decided per account).
with landed as (
    select
        account,
        {{ as_text('sku') }} as sku,
        offer_id,
        {{ as_text('product_id') }} as marketplace_product_id,
        {{ as_text('warehouse_id') }} as warehouse_id,
        warehouse_name,
        {{ as_int('present') }} as quantity_present,
        {{ as_int('reserved') }} as quantity_reserved,
        coalesce(method, 'warehouse_stocks') as method,
        _invalid_reason as invalid_reason,
        _dlt_load_id as load_id
    from {{ optional_source('raw_ozon', 'fbs_stocks', ['sku', 'offer_id', 'product_id', 'warehouse_id', 'warehouse_name', 'present', 'reserved', 'method', '_invalid_reason', '_dlt_load_id'], per_load=true) }} f
)

select * from landed
where method = 'stocks_by_warehouse_fbs'
   or not exists (
       select 1 from landed fallback
       where fallback.method = 'stocks_by_warehouse_fbs' and fallback.account = landed.account)
