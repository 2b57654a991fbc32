"""What a sync prints by default: one line per step, the landing's progress, the summary; no
library internals (Great Expectations' "ephemeral docs site", dlt's hint warnings, dbt's log).

One real incremental sync, run as the web service's "Sync now" runs it (`invsync sync` in a
child process, without -v), so the same run proves the launch's step and final status.
"""

from __future__ import annotations

import re
import time

from pipelines.config import load_settings
from pipelines.web.launcher import Launcher

STEP = re.compile(r"step: (landing|staging|audit|publish)")
PROGRESS = re.compile(r"(ozon|wb): \d+ requests in \d+ s(, ETA .*)? — .*")
SUMMARY = re.compile(r"sync [0-9a-f-]{36} \(incremental\)|  (ozon|wb)\s+success\s+\d+ rows fetched, .*|"
                     r"  steps: landing [\d.]+ s, staging [\d.]+ s, audit [\d.]+ s, publish [\d.]+ s|"
                     r"  not configured, skipped: .*")


def test_a_default_sync_prints_steps_progress_and_summary_only(sandbox, duckdb_url, published, monkeypatch) -> None:
    # After a first sync (`published`) the one under test is incremental: it merges the WB
    # catalog, where dlt used to warn "column hints were different" every time.
    for name, value in {**sandbox.env(), "WAREHOUSE_URL": duckdb_url, "INVSYNC_RATE_LIMIT_SCALE": "0.01"}.items():
        monkeypatch.setenv(name, value)
    # dlt at WARNING (a value set by the user wins over the CLI's quiet ERROR): its hint warning
    # must be gone at its cause, not only hidden.
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "WARNING")

    launch = Launcher(load_settings()).start("all", False, None, "ops", running_elsewhere=lambda: None)
    deadline = time.monotonic() + 180
    while launch.state == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = list(launch.output)
    assert launch.exit_code == 0, lines
    strays = [line for line in lines if not (STEP.fullmatch(line) or PROGRESS.fullmatch(line) or SUMMARY.fullmatch(line))]
    assert strays == []  # e.g. "… great_expectations …: Created temporary directory … for ephemeral docs site"
    assert [line for line in lines if STEP.fullmatch(line)] == ["step: landing", "step: staging", "step: audit",
                                                                 "step: publish"]
    assert sum(bool(SUMMARY.fullmatch(line)) for line in lines) == 5  # the run, two marketplaces, the skipped, the steps
    # A marketplace without credentials is one calm line, never an error.
    assert "  not configured, skipped: ym (YM_API_KEY not set)" in lines
    described = launch.describe()
    assert (described["status"], described["phase"], described["error"]) == ("success", "publish", None)
