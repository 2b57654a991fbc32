"""The CLI sync audits in a process of its own, which ends before the publish: the audit's
memory (~900 MB at 100,000 products, benchmarks/results.md) is gone when dbt's grows."""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.sync import run_sync
from pipelines.sync.dbt import STAGE, worker_for_sync
from tests.conftest import settings_for


def audit_processes() -> list[int]:
    """The live audit processes this process started (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"pipelines.sync.audit_worker" in cmdline:
            found.append(int(entry.name))
    return found


def test_the_audit_runs_in_its_own_process_which_ends_before_the_publish(sandbox, duckdb_url) -> None:
    settings = settings_for(sandbox.env(), duckdb_url, INVSYNC_KEEP_HELPERS="0")  # as `invsync sync` runs
    seen: dict[str, list[int]] = {}
    with worker_for_sync(settings) as worker:
        class Watching:  # the sync's dbt steps, noting the audit processes alive at each
            def __call__(self, step, loads):
                seen["stage" if step.select == STAGE.select else "publish"] = audit_processes()
                return worker(step, loads)

        result = run_sync(settings, backoff_base=0.01, dbt=Watching())
    assert result.clean, result.summary()
    assert len(seen["stage"]) == 1  # leased with the landing: Great Expectations imported meanwhile
    assert seen["publish"] == []  # ended after the audit, before the publish
    assert audit_processes() == []
    # The audit ran there and its results reached the sync: every marketplace has its checks.
    for name, r in result.synced.items():
        assert r.record.details["audit"]["checks"] > 0, name
