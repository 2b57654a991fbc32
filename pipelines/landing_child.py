"""Entry point of the child process that calls one marketplace's API (see `runner.LandingChild`).

    python -m pipelines.landing_child <outcome.pickle>   (the job arrives pickled on stdin)

The parent starts this process first and prepares the landing while it imports dlt and the
sources; then it sends the arguments of `runner.extract_in_child` on stdin (secrets never
touch the disk). The result goes to the outcome file, not stdout: whatever a library prints
cannot corrupt the hand-over. Closing stdin without a job ends the process quietly.
"""

from __future__ import annotations

import logging
import pickle
import sys
from pathlib import Path


def main(outcome_path: str) -> int:
    from pipelines.runner import extract_in_child  # the slow imports, done while the parent prepares

    try:
        job = pickle.load(sys.stdin.buffer)
    except EOFError:  # the parent gave up before sending a job
        return 3
    # The parent's log level (`invsync -v`), so retries and progress are reported alike.
    logging.basicConfig(level=job.pop("log_level", logging.WARNING),
                        format=f"%(asctime)s %(levelname)s %(name)s [{job['marketplace']} landing]: %(message)s")
    outcome = extract_in_child(**job)
    Path(outcome_path).write_bytes(pickle.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
