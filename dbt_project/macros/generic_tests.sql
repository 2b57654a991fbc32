{#- Generic tests used in the YAML files (no package downloads needed). -#}

{% test non_negative(model, column_name) %}
select * from {{ model }} where {{ column_name }} < 0
{% endtest %}

{% test dbt_utils_free_unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{% test available_equals_present_minus_reserved(model) %}
select * from {{ model }}
where quantity_available <> quantity_present - quantity_reserved
{% endtest %}

{% test not_in_values(model, column_name, values) %}
select * from {{ model }}
where {{ column_name }} in ({% for v in values %}'{{ v }}'{% if not loop.last %}, {% endif %}{% endfor %})
{% endtest %}

{#- A marketplace of the registry: the names of the `marketplaces` var (its dbt side), so no
    model's YAML lists them (a third marketplace is one entry there). Nulls pass, as with
    accepted_values. -#}
{% test registered_marketplace(model, column_name) %}
select * from {{ model }}
where {{ column_name }} not in ({% for name in var('marketplaces') %}'{{ name }}'{% if not loop.last %}, {% endif %}{% endfor %})
{% endtest %}
