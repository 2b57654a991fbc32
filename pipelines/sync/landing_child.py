"""Entry point of the child process that calls one marketplace's API (see `pipelines.sync.landing.LandingChild`).

    python -m pipelines.sync.landing_child <outcome.pickle>   (the job arrives pickled on stdin)

The parent starts this process first and prepares the landing while it imports dlt and the
sources; then it sends the arguments of `extract_in_child` on stdin (secrets never
touch the disk). The result goes to the outcome file, not stdout: whatever a library prints
cannot corrupt the hand-over. Closing stdin without a job ends the process quietly.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import threading
import time
from pathlib import Path


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


def main(outcome_path: str) -> int:
    exit_with_parent()
    from pipelines.logs import setup as setup_logging
    from pipelines.sync.landing import extract_in_child  # the slow imports, done while the parent prepares

    try:
        job = pickle.load(sys.stdin.buffer)
    except EOFError:  # the parent gave up before sending a job
        return 3
    # The parent's log level (`invsync -v`), so retries and progress are reported alike.
    setup_logging(verbose=job.pop("log_level", logging.WARNING) <= logging.INFO, tag=f"{job['marketplace']} landing")
    outcome = extract_in_child(**job)
    Path(outcome_path).write_bytes(pickle.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
