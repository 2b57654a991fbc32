"""Entry point of the dbt worker process of a sync (see `pipelines.sync.dbt.DbtWorker`).

    python -m pipelines.sync.dbt_worker <result fd>    (jobs arrive pickled on stdin)

One worker serves every dbt step of a sync: it imports dbt once (seconds) while the landing
runs, then runs each step with `dbtRunner` in this process, with the environment the job
names (the `DBT_*` connection variables, INVSYNC_PUBLISH_LOADS). This process exists to run
dbt; the sync's own process never changes its environment. Results go back on a pipe of their
own, so whatever dbt prints cannot corrupt them. Closing stdin ends the worker.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import sys
from pathlib import Path
from typing import Any, BinaryIO

HEADER = struct.Struct("!I")


def send(stream: BinaryIO, payload: Any) -> None:
    data = pickle.dumps(payload)
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def receive(stream: BinaryIO) -> Any:
    """The next message, or None when the other side closed the pipe."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    size = HEADER.unpack(header)[0]
    return pickle.loads(stream.read(size))


def run(job: dict[str, Any]) -> dict[str, Any]:
    from dbt.cli.main import dbtRunner

    os.environ.update(job["env"])  # this process's own environment: it runs nothing but dbt
    results_file = Path(job["target"]) / "run_results.json"
    results_file.unlink(missing_ok=True)
    try:
        outcome = dbtRunner().invoke(job["args"])
        error = str(outcome.exception) if outcome.exception is not None else None
    except Exception as exc:  # noqa: BLE001 - reported to the sync, which records it
        error = f"{type(exc).__name__}: {exc}"
    results = json.loads(results_file.read_text()) if results_file.exists() else None
    return {"run_results": results, "error": error}


def main(result_fd: int) -> int:
    import dbt.cli.main  # noqa: F401 - the slow import, done while the sync lands

    with os.fdopen(result_fd, "wb") as results:
        while (job := receive(sys.stdin.buffer)) is not None:
            send(results, run(job))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
