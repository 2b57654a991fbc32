-- History and the current table tell one story: the open interval of every key holds the
-- quantities inventory_data holds, and every key of an account with history has one.
-- (An account of a marketplace with no history yet, e.g. before its first publish after the
-- upgrade, is not checked: history starts at the upgrade.)
with open_intervals as (
    select * from {{ ref('inventory_history') }} where valid_to is null
),

tracked as (
    select distinct marketplace, account from {{ ref('inventory_history') }}
)

select {{ grain_columns('i.') }},
       i.quantity_present, o.quantity_present as history_present,
       i.quantity_reserved, o.quantity_reserved as history_reserved
from {{ ref('inventory_data') }} i
inner join tracked t on t.marketplace = i.marketplace and t.account = i.account
left join open_intervals o on {{ same_grain('o', 'i') }}
where o.sku is null
   or o.quantity_present <> i.quantity_present
   or o.quantity_reserved <> i.quantity_reserved
