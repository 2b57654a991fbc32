-- Under the /v1/analytics/stocks fallback, FBO units available for sale per warehouse against
-- the v4 `fbo` totals (present - reserved). A warning: the analytics figures are refreshed on
-- their own schedule and Ozon does not promise they add up.
{{ config(severity='warn') }}
select * from {{ ref('int_ozon__warehouse_sums') }}
where stock_type = 'FBO' and fbo_method = 'analytics_stocks' and reported_available <> landed_available
