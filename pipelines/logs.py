"""Logging of the `invsync` processes: quiet by default, everything with `-v`.

Why: a sync's terminal (and the web console's copy of it) should read as one line per step,
the landing progress, the warnings that concern the data, and the summary. Great Expectations
logs its "ephemeral docs site" at INFO on its own logger level, dlt logs through its own
handler, and libraries raise Python warnings: all of that is for `-v`. By default a library
reaches the terminal only with an error (something failed, and its words may say why).
The landing child processes set themselves up here too (`setup(..., tag=...)`), so their
lines look like the parent's.
"""

from __future__ import annotations

import logging
import os
import sys

# Our own loggers: their warnings are about the data or the run and are always shown.
OWN_LOGGERS = ("pipelines", "invsync", "expectations", "orchestration", "migrations", "__main__")
# Shown at INFO even when quiet: the steps of a sync and the landing's progress.
STEP_LOGGERS = ("invsync.steps", "invsync.progress")


def _is_own(name: str) -> bool:
    return any(name == own or name.startswith(own + ".") for own in OWN_LOGGERS)


class QuietFilter(logging.Filter):
    """Default verbosity: the steps, our warnings, and a library's errors only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in STEP_LOGGERS:
            return True
        return record.levelno >= (logging.WARNING if _is_own(record.name) else logging.ERROR)


class QuietFormatter(logging.Formatter):
    """A step as it is; a warning or error as one line that says who speaks."""

    def __init__(self, tag: str = "") -> None:
        super().__init__()
        self.tag = tag

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.levelno >= logging.ERROR:
            message += " (" + str(record.exc_info[1]) + ")"
        if record.name in STEP_LOGGERS and record.levelno < logging.WARNING:
            return message
        level = "" if record.levelno == logging.WARNING else record.levelname.lower() + ": "
        where = f"{self.tag}: " if self.tag else ""
        return f"invsync: {where}{level}{message}"


def setup(verbose: bool, tag: str = "") -> None:
    """Configure this process's logging once (the CLI's `main`, a landing child).

    dlt reads its level from RUNTIME__LOG_LEVEL when it first logs, in this process and in the
    children that inherit the environment; a value set by the user wins.
    """
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING" if verbose else "ERROR")
    handler = logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    if verbose:
        suffix = f" [{tag}]" if tag else ""
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s %(name)s{suffix}: %(message)s"))
        root.setLevel(logging.INFO)
    else:
        handler.setFormatter(QuietFormatter(tag))
        handler.addFilter(QuietFilter())
        root.setLevel(logging.WARNING)
        for name in STEP_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    logging.captureWarnings(True)  # a library's DeprecationWarning goes through the filter above
