"""The CLI sync audits in a process of its own, which starts when the landing is over and ends
before the publish: the audit's memory (~900 MB at 100,000 products, benchmarks/results.md) is
gone when dbt's grows, and Great Expectations' import neither slows the landing nor adds to its
memory."""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.sync import landing, run_sync, wap
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


def test_the_audit_runs_in_its_own_process_from_the_landings_end_to_before_the_publish(sandbox, duckdb_url,
                                                                                        monkeypatch) -> None:
    settings = settings_for(sandbox.env(), duckdb_url, INVSYNC_KEEP_HELPERS="0")  # as `invsync sync` runs
    seen: dict[str, list[int]] = {}
    events: list[str] = []  # in order: each marketplace's landing returning, the audit process leased
    land, lease = landing.land_marketplace, wap.audit_worker_for_sync

    def land_and_note(settings, wh, name, *args, **kwargs):
        result = land(settings, wh, name, *args, **kwargs)
        events.append(f"landed {name}")
        return result

    def lease_and_note(*args, **kwargs):
        events.append("audit process leased")
        return lease(*args, **kwargs)

    monkeypatch.setattr(landing, "land_marketplace", land_and_note)
    monkeypatch.setattr(wap, "audit_worker_for_sync", lease_and_note)
    with worker_for_sync(settings) as worker:
        class Watching:  # the sync's dbt steps, noting the audit processes alive at each
            def __call__(self, step, loads):
                seen["stage" if step.select == STAGE.select else "publish"] = audit_processes()
                return worker(step, loads)

        result = run_sync(settings, backoff_base=0.01, dbt=Watching())
    assert result.clean, result.summary()
    assert sorted(events[:-1]) == ["landed ozon", "landed wb"] and events[-1] == "audit process leased"
    assert len(seen["stage"]) == 1  # leased when the landing ended: Great Expectations imported meanwhile
    assert seen["publish"] == []  # ended after the audit, before the publish
    assert audit_processes() == []
    # The audit ran there and its results reached the sync: every marketplace has its checks.
    for name, r in result.synced.items():
        assert r.record.details["audit"]["checks"] > 0, name
