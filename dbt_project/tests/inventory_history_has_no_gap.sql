-- No gap while the key exists: a key's intervals follow one another without a hole (each ends
-- where the next starts) and its last interval is open (inventory_data never drops a key; a
-- product that vanished is a zero interval, not a missing one).
{%- set key = grain_columns() %}
select * from (
    select
        h.*,
        lead(valid_from) over (partition by {{ key }} order by valid_from) as next_from
    from {{ ref('inventory_history') }} h
) ordered
where (next_from is not null and valid_to < next_from)
   or (next_from is null and valid_to is not null)
