{#- Ozon's own rules, used by its staging and intermediate models (models/*/ozon/). -#}

{#- Ozon stock `type` to the product's stock types; the one place this rule lives. -#}
{% macro ozon_stock_type(expr) -%}
  case lower({{ expr }})
    when 'fbo' then 'FBO'
    when 'fbs' then 'FBS'
    when 'rfbs' then 'realFBS'
    when 'realfbs' then 'realFBS'
    when 'fbp' then 'FBP'
  end
{%- endmacro %}
