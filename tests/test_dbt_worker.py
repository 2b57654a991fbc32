"""The sync's dbt worker parses a warehouse's project ahead, while the landing runs, when the
warehouse's dbt folder has no saved parse: the sync's first dbt step then parses partially."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from pipelines.config import Settings
from pipelines.sync.dbt import PARTIAL_PARSE_FILE, target_dir, worker_for_sync
from tests.conftest import settings_for


def last_invocation_log(settings: Settings) -> str:
    text = (target_dir(settings) / "logs" / "dbt.log").read_text(encoding="utf-8", errors="replace")
    return text[text.rfind("Running with dbt"):]


def test_a_warehouse_without_a_saved_parse_is_parsed_ahead_and_its_first_step_parses_partially(tmp_path: Path) -> None:
    settings = settings_for({}, f"duckdb:///{tmp_path / 'new.duckdb'}")
    saved = target_dir(settings) / PARTIAL_PARSE_FILE
    assert not saved.exists()

    with worker_for_sync(settings, parse_ahead=True) as worker:
        run = worker.run(["ls", "--resource-type", "model", "--select", "inventory_data"])  # waits for the parse
        assert run.error is None or "run_results" in run.error  # `ls` writes no run results
        assert saved.exists()
        log = last_invocation_log(settings)  # dbt's file log is at info in the tests: no debug lines
        assert re.search(r"Found \d+ models", log) and "Unable to do partial parsing" not in log

        parsed_at = saved.stat().st_mtime_ns
        worker.parse_ahead()  # a saved parse now: nothing started
        worker.wait_for_parse()
        assert saved.stat().st_mtime_ns == parsed_at


def test_without_parse_ahead_the_first_step_parses_in_full_and_duckdb_gets_the_memory_limit(tmp_path: Path) -> None:
    settings = settings_for({"INVSYNC_DUCKDB_MEMORY_LIMIT": "700MB"}, f"duckdb:///{tmp_path / 'new.duckdb'}")
    with worker_for_sync(settings) as worker:
        worker.run(["show", "--inline", "select current_setting('memory_limit') as limit_in_dbt"])
    log = last_invocation_log(settings)
    assert "Unable to do partial parsing because saved manifest not found" in log
    # dbt's DuckDB runs under INVSYNC_DUCKDB_MEMORY_LIMIT (as DuckDB itself shows that size)
    with duckdb.connect() as conn:
        conn.execute("set memory_limit = '700MB'")
        shown = conn.execute("select current_setting('memory_limit')").fetchone()[0]
        default = conn.execute("reset memory_limit; select current_setting('memory_limit')").fetchone()[0]
    assert shown != default and shown in log.split("limit_in_dbt", 1)[1]
