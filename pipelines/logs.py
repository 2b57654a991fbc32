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
from typing import Callable

# Our own loggers: their warnings are about the data or the run and are always shown.
OWN_LOGGERS = ("pipelines", "invsync", "expectations", "orchestration", "migrations", "__main__")
# Shown at INFO even when quiet: the steps of a sync, the landing's progress, and who started
# which sync from the web service (an operator's action belongs in its log).
STEP_LOGGERS = ("invsync.steps", "invsync.progress", "invsync.audit")
DLT_LEVEL = "RUNTIME__LOG_LEVEL"  # dlt's own level (it logs through a handler of its own)


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


def setup(verbose: bool, tag: str = "") -> Callable[[], None]:
    """Configure this process's logging (the CLI's `main`, a landing child); returns what undoes
    it, so `main()` called in-process (tests, scripts) leaves the caller's logging as it was.

    dlt reads its level from RUNTIME__LOG_LEVEL when it first logs, in this process and in the
    children that inherit the environment; a value set by the user wins.
    """
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, os.environ.get(DLT_LEVEL),
             {name: logging.getLogger(name).level for name in STEP_LOGGERS})
    os.environ.setdefault(DLT_LEVEL, "WARNING" if verbose else "ERROR")
    handler = logging.StreamHandler(sys.stderr)
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
    root.handlers[:] = [handler]
    logging.captureWarnings(True)  # a library's DeprecationWarning goes through the filter above

    def restore() -> None:
        handlers, level, dlt_level, step_levels = saved
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, step_level in step_levels.items():
            logging.getLogger(name).setLevel(step_level)
        if dlt_level is None:
            os.environ.pop(DLT_LEVEL, None)
        else:
            os.environ[DLT_LEVEL] = dlt_level
        logging.captureWarnings(False)

    return restore
