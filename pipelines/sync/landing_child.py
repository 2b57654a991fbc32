"""Entry point of the child process that calls one marketplace's API (see `pipelines.sync.landing.LandingChild`).

    python -m pipelines.sync.landing_child <result fd>   (jobs arrive pickled on stdin)

The parent starts (or leases from its pool) this process first and prepares the landing while
it imports dlt and the sources; then it sends the arguments of `extract_in_child` on stdin
(secrets never touch the disk). The outcome goes back on a pipe of its own (`child.serve`),
not stdout: whatever a library prints cannot corrupt the hand-over. One job at a time;
closing stdin ends the process quietly.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any

from pipelines.sync.child import serve


def exit_with_parent(poll_seconds: float = 1.0) -> None:
    """End this process when the sync that started it is gone (killed by cron's `timeout`, say):
    an orphan would go on writing into the dlt folder the next sync uses."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:
                os._exit(4)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def land(job: dict[str, Any]) -> dict[str, Any]:
    """One job: `extract_in_child` with the parent's log level (`invsync -v`), so retries and
    progress are reported alike, tagged with this job's marketplace."""
    from pipelines.config_accounts import account_key
    from pipelines.logs import setup as setup_logging
    from pipelines.sync.landing import extract_in_child

    restore = setup_logging(verbose=job.pop("log_level", logging.WARNING) <= logging.INFO,
                            tag=f"{account_key(job['marketplace'], job['account'])} landing")
    try:
        return extract_in_child(**job)
    finally:
        restore()


def main(result_fd: int) -> int:
    exit_with_parent()
    import pipelines.sync.landing  # noqa: F401 - the slow imports, done while the parent prepares

    return serve(land, result_fd)


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
