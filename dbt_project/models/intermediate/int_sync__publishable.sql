-- The accounts of each marketplace this build publishes, one row per (marketplace, account), with
-- its load and the sync time that confirms it (`publishable_accounts`, macros/publish.sql). A sync
-- builds this view in its publish build with only the approved loads (an account whose latest sync
-- failed, or was blocked by the checks, is absent), so nothing of a held-back account changes in
-- inventory_data; each account's rows are matched by (marketplace, account), so one account's sync
-- never touches another's.
{{ publishable_accounts() }}
