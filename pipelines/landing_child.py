"""Entry point of the child process that calls one marketplace's API (see `runner.land_marketplace`).

    python -m pipelines.landing_child <job.pickle> <outcome.pickle>

The job file holds the arguments of `runner.extract_in_child`; the outcome file receives its
result. Files, not pipes: whatever a library prints cannot corrupt the hand-over.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path


def main(job_path: str, outcome_path: str) -> int:
    from pipelines.runner import extract_in_child

    job = pickle.loads(Path(job_path).read_bytes())
    outcome = extract_in_child(**job)
    Path(outcome_path).write_bytes(pickle.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
