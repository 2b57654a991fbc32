-- Each account's own warehouses (POST /v2/businesses/{businessId}/warehouses), its published
-- load only: their names, and `express`, which makes an FBS campaign's stock there EXPRESS
-- (yandex_market.md §1, §7). One row per account and warehouse (two accounts may name the same
-- warehouse id).
select
    account,
    {{ as_text('id') }} as warehouse_id,
    max(name) as warehouse_name,
    max(case when lower({{ as_text('express') }}) in ('true', '1') then 1 else 0 end) as is_express
from {{ optional_source('raw_ym', 'seller_warehouses', ['id', 'name', 'express'], per_load=true) }} w
where id is not null
group by account, {{ as_text('id') }}
