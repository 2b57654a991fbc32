"""Quarantine: a load package that cannot be loaded is set aside, never retried forever.

dlt keeps a package it could not load (or normalize) and tries it again before anything else
on every later run, so one unloadable answer (a value the warehouse refuses, an emoji for a
utf8mb3 table, a column whose type drifted between pages) would fail every following sync with
the same old error. Here such a package is:

1. copied, as it is, to `<pipelines_dir>/quarantine/<pipeline>/<load_id>/` with a `REASON.txt`
   (what failed, when, in one line, secrets masked) for inspection;
2. aborted with dlt's own `abort_packages()`, which also rewinds the local state and schemas
   (incremental cursors) to where they were before it; when even that fails, the local working
   folder is dropped and the next run restores state and schema from the warehouse;
3. reported in one line (`PackageQuarantined`), with no dlt traceback.

So the next sync starts clean: nothing pending, state as the warehouse last committed it.
Raw tables the package had partly written are harmless: staging reads only the loads of
published syncs, and the next sync's complete snapshot replaces them.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import dlt

log = logging.getLogger(__name__)

Mask = Callable[[str], str]
QUARANTINE_DIR = "quarantine"
REASON_FILE = "REASON.txt"
MAX_REASON = 500


class PackageQuarantined(RuntimeError):
    """A load package could not be loaded and was set aside (the message is one masked line)."""

    def __init__(self, message: str, load_ids: list[str], folder: Path):
        super().__init__(message)
        self.load_ids = load_ids
        self.folder = folder


def _root_cause(exc: BaseException) -> BaseException:
    seen, hops = exc, 0
    while hops < 50:
        inner = seen.__cause__ or seen.__context__
        if inner is None or inner is seen:
            break
        seen, hops = inner, hops + 1
    return seen


def first_line(text: str, mask: Mask = str) -> str:
    """A message in one line (its first non-empty line, shortened), secrets masked."""
    lines = [" ".join(line.split()) for line in str(text).splitlines() if line.strip()]
    line = mask(lines[0].rstrip(":") if lines else "")
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 3] + "..."


def one_line(exc: BaseException, mask: Mask = str) -> str:
    """The innermost error in one line: its first line, shortened, secrets masked."""
    cause = _root_cause(exc)
    return first_line(str(cause), mask) or type(cause).__name__


def quarantine_root(pipeline: dlt.Pipeline) -> Path:
    return Path(pipeline.pipelines_dir) / QUARANTINE_DIR / pipeline.pipeline_name


def _folder(packages: Any, load_id: str) -> Path:
    return Path(packages.storage.make_full_path(packages.get_package_path(load_id)))


def pending_packages(pipeline: dlt.Pipeline) -> dict[str, Path]:
    """Every package dlt would still normalize or load: load id -> its folder."""
    found: dict[str, Path] = {}
    normalize = pipeline._get_normalize_storage()
    if normalize.is_storage_ready():
        for load_id in normalize.extracted_packages.list_packages():
            found[load_id] = _folder(normalize.extracted_packages, load_id)
    load = pipeline._get_load_storage()
    if load.is_storage_ready():
        for load_id in load.normalized_packages.list_packages():
            found[load_id] = _folder(load.normalized_packages, load_id)
    return found


def set_aside(pipeline: dlt.Pipeline, reason: str) -> tuple[list[str], Path]:
    """Copy every pending package to the quarantine folder with the reason, then abort them all.

    Returns the load ids set aside and the quarantine folder. Never raises for the abort
    itself: when dlt cannot abort, the local working folder is dropped instead.
    """
    root = quarantine_root(pipeline)
    packages = pending_packages(pipeline)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for load_id, folder in packages.items():
        target = root / load_id
        try:
            if target.exists():
                shutil.rmtree(target)
            if folder.exists():
                shutil.copytree(folder, target)
            else:
                target.mkdir(parents=True, exist_ok=True)
            (target / REASON_FILE).write_text(
                f"pipeline: {pipeline.pipeline_name}\nload id: {load_id}\nset aside at: {stamp}\nreason: {reason}\n",
                encoding="utf-8")
        except OSError:  # a copy that fails must not keep the package pending
            log.warning("%s: could not copy package %s to %s", pipeline.pipeline_name, load_id, target, exc_info=True)
    try:
        pipeline.abort_packages()
    except Exception:  # noqa: BLE001 - the fallback below leaves nothing pending either
        log.debug("dlt could not abort the packages; dropping the local working folder", exc_info=True)
    if pending_packages(pipeline):
        pipeline.drop()  # the next run restores state and schemas from the warehouse
    return list(packages), root


def _quarantined(pipeline: dlt.Pipeline, what: str, exc: BaseException, mask: Mask) -> PackageQuarantined:
    reason = one_line(exc, mask)
    load_ids, root = set_aside(pipeline, reason)
    where = root / load_ids[0] if len(load_ids) == 1 else root
    message = (f"{what} could not be loaded into the warehouse ({reason}); set aside in {where}, "
               "the next sync starts clean")
    log.error("%s: %s", pipeline.pipeline_name, message)
    return PackageQuarantined(message, load_ids, where)


def load_or_quarantine(pipeline: dlt.Pipeline, what: str = "the landed data", mask: Mask = str) -> Any:
    """`pipeline.load()`; a package that fails is set aside and `PackageQuarantined` raised."""
    failure: BaseException | None = None
    try:
        return pipeline.load()
    except Exception as exc:  # noqa: BLE001 - any reason: set aside, report in one line
        failure = exc
    raise _quarantined(pipeline, what, failure, mask)


def normalize_and_load_pending(pipeline: dlt.Pipeline, mask: Mask = str) -> list[str]:
    """Normalize and load what an interrupted sync left; set aside what cannot be.

    Returns warnings for the sync record (empty when nothing was left or all of it loaded).
    """
    failure: BaseException | None = None
    try:
        if pipeline.list_extracted_load_packages():
            pipeline.normalize()
        if pipeline.list_normalized_load_packages():
            log.warning("%s: loading the packages an interrupted sync left behind", pipeline.pipeline_name)
            pipeline.load()
        return []
    except Exception as exc:  # noqa: BLE001
        failure = exc
    error = _quarantined(pipeline, "a package an interrupted sync left behind", failure, mask)
    return [str(error)]


def discard_pending(pipeline: dlt.Pipeline, error: str) -> str:
    """After a failed extraction or normalization (`error`, already masked): set aside whatever
    it left pending, so the next sync neither loads a partial answer nor fails on it again.

    Returns the failure in one line, naming the quarantine folder when something was set aside.
    """
    message = first_line(error) or "the landing failed"
    if not pending_packages(pipeline):
        return message
    load_ids, root = set_aside(pipeline, message)
    where = root / load_ids[0] if len(load_ids) == 1 else root
    return f"{message} (the unfinished package was set aside in {where}; the next sync starts clean)"
