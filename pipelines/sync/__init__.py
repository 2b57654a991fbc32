"""The sync core: the one path from the marketplaces' APIs to a published `inventory_data`.

- `core.run_sync` — a whole sync (what `invsync sync`, the demo, the web service and the
  benchmark run); also `prepare_warehouse`.
- `landing` — one marketplace's answers into its raw tables (dlt, a child process per
  marketplace), recorded in `sync_logs`.
- `wap` — write–audit–publish: dbt staging, the Great Expectations audit, the publish.
- `dbt` — the two dbt steps, their invocation and the reader of their results.
- `result` — the outcome model (`Outcome`, `MarketplaceResult`, `SyncResult`).
- `child` — how the sync's helper processes start and end; `landing_child` and `dbt_worker`
  are their entry points (one landing process per marketplace, one dbt worker per sync).

The Dagster assets (`orchestration/assets/`) are thin wrappers over `landing` and `wap`.
"""

from pipelines.sync.core import prepare_warehouse, run_sync
from pipelines.sync.result import MarketplaceResult, Outcome, SyncResult

__all__ = ["MarketplaceResult", "Outcome", "SyncResult", "prepare_warehouse", "run_sync"]
