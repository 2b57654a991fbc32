-- No two intervals of one key overlap, and none is empty: ordered by valid_from, each interval
-- ends (valid_to) no later than the next one starts, and after it starts.
{%- set key = grain_columns() %}
select * from (
    select
        h.*,
        lead(valid_from) over (partition by {{ key }} order by valid_from) as next_from
    from {{ ref('inventory_history') }} h
) ordered
where (valid_to is not null and valid_to <= valid_from)
   or (next_from is not null and (valid_to is null or valid_to > next_from))
