{#-
  Ozon per-warehouse rows against the /v4/product/info/stocks totals of the same load, per
  offer and stock type: the rows of `stock_types` whose sums differ. `measure` is `present`
  (present and reserved compared) or `available` (present - reserved only: all that the
  analytics fallback knows). `fbo_method` limits FBO rows to loads that used that method.
-#}
{% macro ozon_rows_not_adding_up(stock_types, measure='present', fbo_method=none) %}
with methods as (
    select distinct method from {{ ref('stg_ozon__fbo_stocks') }}
),

totals as (
    select offer_id, stock_type,
           sum(quantity_present) as present, sum(quantity_reserved) as reserved,
           sum(quantity_present - quantity_reserved) as available
    from {{ ref('stg_ozon__stocks') }}
    where stock_type in ({% for t in stock_types %}'{{ t }}'{% if not loop.last %}, {% endif %}{% endfor %})
    group by offer_id, stock_type
),

per_warehouse as (
    select offer_id, stock_type,
           sum(quantity_present) as present, sum(quantity_reserved) as reserved,
           sum(quantity_present - quantity_reserved) as available
    from {{ ref('int_inventory__ozon') }}
    where stock_type in ({% for t in stock_types %}'{{ t }}'{% if not loop.last %}, {% endif %}{% endfor %})
    group by offer_id, stock_type
),

offer_types as (
    select offer_id, stock_type from totals
    union
    select offer_id, stock_type from per_warehouse
)

-- (MySQL/MariaDB have no FULL OUTER JOIN: join both sides to the union of keys.)
select
    k.offer_id,
    k.stock_type,
    t.present as total_present, w.present as warehouse_present,
    t.reserved as total_reserved, w.reserved as warehouse_reserved,
    t.available as total_available, w.available as warehouse_available
from offer_types k
left join totals t on t.offer_id = k.offer_id and t.stock_type = k.stock_type
left join per_warehouse w on w.offer_id = k.offer_id and w.stock_type = k.stock_type
where (
    {% if measure == 'available' %}
    coalesce(t.available, 0) <> coalesce(w.available, 0)
    {% else %}
    coalesce(t.present, 0) <> coalesce(w.present, 0) or coalesce(t.reserved, 0) <> coalesce(w.reserved, 0)
    {% endif %}
)
{% if fbo_method %}
  and exists (select 1 from methods where method = '{{ fbo_method }}')
{% endif %}
{% endmacro %}
