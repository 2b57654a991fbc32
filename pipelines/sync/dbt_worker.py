"""Entry point of the dbt worker process of a sync (see `pipelines.sync.dbt.DbtWorker`).

    python -m pipelines.sync.dbt_worker <result fd>    (jobs arrive pickled on stdin)

One worker serves every dbt step of a sync (and, waiting in the process's pool, of its next
syncs): it imports dbt once (seconds) while the landing runs, then runs each step with
`dbtRunner` in this process, with the environment the job names (the `DBT_*` connection
variables, INVSYNC_PUBLISH_LOADS). This process exists to run dbt; the sync's own process
never changes its environment. Results go back on a pipe of their own (`child.serve`), so
whatever dbt prints cannot corrupt them. Closing stdin ends the worker.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from pipelines.sync.child import serve

BASE_ENVIRONMENT: dict[str, str] = {}  # the environment the worker started with (`main`)


def run(job: dict[str, Any]) -> dict[str, Any]:
    from dbt.cli.main import dbtRunner

    # This process's own environment (it runs nothing but dbt): as it started, plus this job's
    # variables, so nothing of an earlier job (another warehouse's password) stays behind.
    if not BASE_ENVIRONMENT:
        BASE_ENVIRONMENT.update(os.environ)
    os.environ.clear()
    os.environ.update(BASE_ENVIRONMENT)
    os.environ.update(job["env"])
    results_file = Path(job["target"]) / "run_results.json"
    results_file.unlink(missing_ok=True)
    try:
        outcome = dbtRunner().invoke(job["args"])
        error = str(outcome.exception) if outcome.exception is not None else None
    except Exception as exc:  # noqa: BLE001 - reported to the sync, which records it
        error = f"{type(exc).__name__}: {exc}"
    finally:
        close_duckdb()
    results = json.loads(results_file.read_text()) if results_file.exists() else None
    return {"run_results": results, "error": error}


def close_duckdb() -> None:
    """Close the DuckDB file dbt kept open for the invocation (`keep_open` in profiles.yml).

    dbt-duckdb keeps its database in a class attribute that outlives an invocation; this
    process lives on between steps and syncs, and an open file would lock out the sync's own
    process (the audit reads the snapshot) and every other reader until the next step.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # only dbt-mysql installed
        return
    environment = DuckDBConnectionManager._ENV  # noqa: SLF001 - no public way to close it
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()


def main(result_fd: int) -> int:
    import dbt.cli.main  # noqa: F401 - the slow import, done while the sync lands

    return serve(run, result_fd)


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
