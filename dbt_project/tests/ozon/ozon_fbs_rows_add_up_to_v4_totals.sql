-- Ozon FBS and realFBS per seller warehouse against the v4 `fbs` / `rfbs` totals of the same
-- load. A warning: Ozon's docs do not say the two must agree (shared/api/ozon.md §1).
{{ config(severity='warn') }}
select * from {{ ref('int_ozon__warehouse_sums') }}
where stock_type in ('FBS', 'realFBS')
  and (reported_present <> landed_present or reported_reserved <> landed_reserved)
