"""Entry point of the audit process of a sync (see `pipelines.sync.wap.AuditWorker`).

    python -m pipelines.sync.audit_worker <result fd>    (jobs arrive pickled on stdin)

Why a process of its own: an audit reads the whole snapshot into pandas frames and Great
Expectations keeps its batches; on 100,000 products it peaks near 900 MB, and a process does
not give such memory back to the system once it is freed. In the sync's own process that
memory stayed for the publish, beside dbt's. Here it ends with this process, which the sync
closes after the audit. The sync starts it when the landing is over, so Great Expectations'
import (seconds) overlaps dbt's staging build. Results (the `AuditOutcome`s) go back on a pipe of their own (`child.serve`); its log
lines are the sync's to write, from the outcomes, so this process prints nothing.
"""

from __future__ import annotations

import logging
import os
import sys
from types import SimpleNamespace
from typing import Any

from pipelines.sync.child import serve


def run(job: dict[str, Any]) -> dict[str, Any]:
    """One audit: `audit_snapshot` on the warehouse of `job["settings"]`."""
    from expectations.audit import audit_snapshot
    from pipelines.warehouse import warehouse_for

    settings = job["settings"]
    try:
        landed = {key: SimpleNamespace(marketplace=marketplace, account=account, counts=counts)
                  for key, (marketplace, account, counts) in job["landed"].items()}
        return {"outcomes": audit_snapshot(settings, warehouse_for(settings.warehouse), landed, job["run_id"])}
    except Exception as exc:  # noqa: BLE001 - the sync records it on every row of the audit
        return {"error": settings.mask(f"{type(exc).__name__}: {exc}")}


def main(result_fd: int) -> int:
    logging.getLogger().addHandler(logging.NullHandler())  # no stray lines on the sync's console
    logging.getLogger().setLevel(logging.CRITICAL + 1)
    import expectations.audit  # noqa: F401 - the slow import (Great Expectations), done while dbt stages

    code = serve(run, result_fd)
    # Python's own teardown of an audit's objects (frames, GE's batches) took ~0.5 s at 100,000
    # products, on the sync's clock: the answers are sent, nothing is left to flush or close.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
