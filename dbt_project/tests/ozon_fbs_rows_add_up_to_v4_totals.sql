-- Ozon FBS and realFBS per seller warehouse against the v4 `fbs` / `rfbs` totals of the same
-- load. A warning: Ozon's docs do not say the two must agree (shared/api/ozon.md §1).
{{ config(severity='warn') }}
{{ ozon_rows_not_adding_up(['FBS', 'realFBS'], 'present') }}
