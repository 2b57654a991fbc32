-- Under the /v1/analytics/stocks fallback, FBO units available for sale per warehouse against
-- the v4 `fbo` totals (present - reserved). A warning: the analytics figures are refreshed on
-- their own schedule and Ozon does not promise they add up.
{{ config(severity='warn') }}
{{ ozon_rows_not_adding_up(['FBO'], 'available', fbo_method='analytics_stocks') }}
