"""Landing progress: requests done / planned per method, ETA, on a terminal or in the log."""

from __future__ import annotations

import io
import logging

from pipelines.api_client import SyncStats
from pipelines.progress import ProgressReporter, describe, plan


def test_describe_counts_done_against_planned_and_estimates_the_rest() -> None:
    line = describe("ozon", {"/v4/product/info/stocks": 25, "/v2/warehouse/list": 1},
                    {"/v4/product/info/stocks": 100}, elapsed=50)
    assert line.startswith("ozon: 26 requests in 50 s, ETA 2 min 30 s — ")
    assert "/v4/product/info/stocks 25/100" in line and "/v2/warehouse/list 1" in line
    # Nothing planned: no ETA invented.
    assert "ETA" not in describe("wb", {"/content/v2/get/cards/list": 3}, {}, elapsed=5)


def test_plan_adds_up() -> None:
    counts: dict = {}
    plan(counts, "/a", 3)
    plan(counts, "/a", 2)
    assert counts["planned"] == {"/a": 5}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_reporter_prints_lines_on_a_terminal_and_logs_otherwise(caplog) -> None:
    stats = SyncStats()
    counts: dict = {}
    terminal = Terminal()
    with ProgressReporter("wb", stats, counts, stream=terminal, interval=0.02) as reporter:
        plan(counts, "/x", 4)
        stats.count_request("/x")
        import time
        time.sleep(0.15)
    assert reporter.on_terminal
    lines = terminal.getvalue().splitlines()
    assert lines and lines[-1].startswith("wb: 1 requests") and "/x 1/4" in lines[-1]

    with caplog.at_level(logging.INFO, logger="invsync.progress"):
        with ProgressReporter("ozon", stats, counts, stream=io.StringIO(), interval=60):
            pass
    assert any("(landing done)" in r.message for r in caplog.records)
