"""invsync: marketplace inventory ELT (Ozon and Wildberries).

Modules: `config` (settings), `http` (client layer), `ozon` / `wildberries` (dlt sources),
`runner` (sync runner), `warehouse` / `sync_log` (the warehouse's own tables), `sandbox`
(local emulator of both APIs), `cli` (the `invsync` command).
"""
