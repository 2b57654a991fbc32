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

from __future__ import annotations

from importlib import import_module
from typing import Any

# Imported on first use (PEP 562), not with the package: each helper process of a sync starts
# as `python -m pipelines.sync.<entry>`, which imports this package first, and `core` brings in
# dlt (~0.5 s of CPU), which the dbt and audit workers never use; on two cores that CPU was
# taken from the landing running beside them.
_EXPORTS = {"prepare_warehouse": "core", "run_sync": "core",
            "MarketplaceResult": "result", "Outcome": "result", "SyncResult": "result"}

__all__ = ["MarketplaceResult", "Outcome", "SyncResult", "prepare_warehouse", "run_sync"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"pipelines.sync.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'pipelines.sync' has no attribute {name!r}")
