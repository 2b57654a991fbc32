-- Ozon FBO per warehouse, read with /v1/product/info/stocks-by-warehouse/fbo, adds up to the
-- /v4/product/info/stocks `fbo` totals of the same load (present and reserved), per offer.
-- An error: both come from the same account at the same moment, so a gap is a broken answer
-- or a mapping bug. Nothing is returned for a load that used the analytics fallback.
{{ config(severity='error') }}
select * from {{ ref('int_ozon__warehouse_sums') }}
where stock_type = 'FBO' and fbo_method = 'stocks_by_warehouse_fbo'
  and (reported_present <> landed_present or reported_reserved <> landed_reserved)
