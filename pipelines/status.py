"""`invsync status`: can the stock numbers be trusted right now?

Per marketplace: the last successful sync and its age, the last attempt and its outcome,
its warnings (a fallback method taken, a retired method met) and the API methods it used,
row and unit totals, the last error. Exit code 0 when everything is fresh, 1 when some data
is older than 6 hours (STALE), 2 when older than 24 hours or never synced (CRITICAL), so it
works as a cron or monitoring check.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from pipelines import sync_log
from pipelines.config import Settings
from pipelines.sync_log import SyncRecord
from pipelines.warehouse import Warehouse, warehouse_for

SYNC_LOCK = "invsync_sync"  # runner.SYNC_LOCK (not imported: status must not import dlt)

# The sync_logs columns status and report read (a legacy importer's table has none of these).
SYNC_LOG_COLUMNS = {"marketplace", "status", "started_at", "finished_at", "error_message"}

STALE_AFTER_HOURS = 6
CRITICAL_AFTER_HOURS = 24
LEVELS = {"fresh": 0, "stale": 1, "critical": 2}


def _age_hours(ts: Any, now: datetime) -> float | None:
    if ts is None:
        return None
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return round((now - ts).total_seconds() / 3600, 2)


def dead_syncs(wh: Warehouse) -> list[SyncRecord]:
    """`running` rows whose sync died, concluded as the next sync will record them (read-only)."""
    return sync_log.interrupted_rows(wh, wh.lock_free(SYNC_LOCK), found_by="status")


def _as_row(rec: SyncRecord) -> dict[str, Any]:
    return {**dict(zip(sync_log.COLUMNS, sync_log._values(rec))), "id": rec.id}


def _newest(rows: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    def key(row: dict[str, Any]) -> tuple[datetime, int]:
        ts = row["started_at"]
        ts = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
        return (ts.replace(tzinfo=None), row["id"] or 0)

    present = [r for r in rows if r]
    return max(present, key=key) if present else None


def marketplace_status(wh: Warehouse, marketplace: str, now: datetime, enabled: bool,
                       dead: list[SyncRecord] | None = None) -> dict[str, Any]:
    """One marketplace's status. A sync whose process died counts as what it is (`dead`, from
    `dead_syncs`; looked up when not given): `interrupted`, or a success when its data was
    published before it died, even before the next sync records that in sync_logs."""
    def latest(condition: str) -> dict[str, Any] | None:
        rows = wh.query(
            f"select * from sync_logs where marketplace = %s and {condition} order by started_at desc, id desc limit 1",
            (marketplace,),
        )
        return rows[0] if rows else None

    if dead is None:
        dead = dead_syncs(wh)
    concluded = [_as_row(rec) for rec in dead if rec.marketplace == marketplace]
    success = _newest([latest("status in ('success', 'partial')")]
                      + [r for r in concluded if r["status"] in ("success", "partial")])
    attempt = _newest([latest("status <> 'running'")] + concluded)
    failed = _newest([latest("status in ('failed', 'interrupted')")]
                     + [r for r in concluded if r["status"] == "interrupted"])
    dead_ids = {r["id"] for r in concluded}
    running = [r for r in wh.query("select * from sync_logs where marketplace = %s and status = 'running' "
                                   "order by started_at desc, id desc", (marketplace,)) if r["id"] not in dead_ids]
    totals = {"rows": 0, "units_present": 0, "units_available": 0}
    if wh.table_exists("inventory_data"):
        row = wh.query(
            "select count(*) as n, coalesce(sum(quantity_present), 0) as present, "
            "coalesce(sum(quantity_available), 0) as available from inventory_data where marketplace = %s",
            (marketplace,),
        )[0]
        totals = {"rows": int(row["n"]), "units_present": int(row["present"]), "units_available": int(row["available"])}
    age = _age_hours(success["finished_at"] if success else None, now)
    if age is None or age > CRITICAL_AFTER_HOURS:
        level = "critical"
    elif age > STALE_AFTER_HOURS:
        level = "stale"
    else:
        level = "fresh"
    return {
        "marketplace": marketplace,
        "configured": enabled,
        "level": level,
        "last_success_at": str(success["finished_at"]) if success else None,
        "age_hours": age,
        "last_attempt_at": str(attempt["started_at"]) if attempt else None,
        "last_attempt_status": attempt["status"] if attempt else None,
        "last_attempt_phase": _phase(attempt) if attempt and attempt["status"] == "interrupted" else None,
        "last_error": failed["error_message"] if failed else None,
        "last_attempt_warnings": _json_list(attempt.get("warnings")) if attempt else [],
        "methods": _methods(attempt.get("details")) if attempt else {},
        "running_since": str(running[0]["started_at"]) if running else None,
        "running_phase": _phase(running[0]) if running else None,
        **totals,
    }


def _phase(row: dict[str, Any]) -> str | None:
    details = row.get("details")
    data = (json.loads(details) if isinstance(details, str) else details) or {}
    return (data.get("interrupted") or {}).get("phase") or data.get("phase")


def _json_list(value: Any) -> list[str]:
    if not value:
        return []
    data = json.loads(value) if isinstance(value, str) else value
    return [str(v) for v in data] if isinstance(data, list) else [str(data)]


def _methods(details: Any) -> dict[str, str]:
    """Which API method answered each stock need in that sync (`*_method` counts)."""
    if not details:
        return {}
    data = json.loads(details) if isinstance(details, str) else details
    counts = (data or {}).get("counts") or {}
    return {k[: -len("_method")]: str(v) for k, v in counts.items() if k.endswith("_method") and v}


class UnmigratedWarehouse(RuntimeError):
    """`sync_logs` is not in this version's layout (typically the legacy importer's table)."""


def check_sync_log_layout(wh: Warehouse) -> None:
    missing = SYNC_LOG_COLUMNS - wh.columns("sync_logs")
    if missing:
        raise UnmigratedWarehouse(
            f"sync_logs in {wh.schema} lacks the columns {', '.join(sorted(missing))}: it is not in this version's "
            "layout (a legacy importer's table?). Run `invsync migrate up` to adopt it: it keeps a backup, and "
            "`invsync migrate down` restores it exactly."
        )


def collect_status(settings: Settings, now: datetime | None = None) -> list[dict[str, Any]]:
    """Read-only: a warehouse that was never synced (no sync_logs yet) reports no history.

    Raises UnmigratedWarehouse when `sync_logs` has another layout (it never migrates).
    """
    now = now or datetime.now(timezone.utc)
    # Read-only: on DuckDB a reader that takes turns with a sync's writes, never breaking it.
    wh = warehouse_for(settings.warehouse, read_only=True)
    wanted = [("ozon", settings.ozon_enabled), ("wb", settings.wb_enabled)]
    if not wh.table_exists("sync_logs"):
        return [never_synced(name, enabled) for name, enabled in wanted]
    check_sync_log_layout(wh)
    dead = dead_syncs(wh)
    return [marketplace_status(wh, name, now, enabled, dead) for name, enabled in wanted]


def never_synced(marketplace: str, enabled: bool) -> dict[str, Any]:
    return {"marketplace": marketplace, "configured": enabled, "level": "critical", "last_success_at": None,
            "age_hours": None, "last_attempt_at": None, "last_attempt_status": None, "last_attempt_phase": None,
            "last_error": None, "last_attempt_warnings": [], "methods": {}, "running_since": None,
            "running_phase": None, "rows": 0, "units_present": 0, "units_available": 0}


def exit_code(statuses: list[dict[str, Any]]) -> int:
    """Only marketplaces that are configured or have history count towards the exit code."""
    relevant = [s for s in statuses if s["configured"] or s["last_attempt_at"]]
    return max((LEVELS[s["level"]] for s in relevant), default=LEVELS["critical"])


def run_status(settings: Settings, as_json: bool = False, now: datetime | None = None) -> int:
    try:
        statuses = collect_status(settings, now)
    except UnmigratedWarehouse as exc:
        # Nothing can be trusted until it is migrated: critical, with what to do.
        print(json.dumps({"exit_code": 2, "error": str(exc)}) if as_json else f"CRITICAL {exc}")
        return LEVELS["critical"]
    code = exit_code(statuses)
    if as_json:
        print(json.dumps({"exit_code": code, "marketplaces": statuses}, ensure_ascii=False, default=str, indent=2))
        return code
    for s in statuses:
        label = {"fresh": "OK", "stale": "STALE", "critical": "CRITICAL"}[s["level"]]
        age = f"{s['age_hours']} h ago" if s["age_hours"] is not None else "never"
        outcome = s["last_attempt_status"] or "-"
        if s.get("last_attempt_phase"):
            outcome += f" during {s['last_attempt_phase']}"
        print(f"{s['marketplace']:5} {label:8} last success {s['last_success_at'] or '-'} ({age}); "
              f"last attempt {outcome} at {s['last_attempt_at'] or '-'}")
        if s.get("running_since"):
            print(f"      a sync is running since {s['running_since']} ({s['running_phase'] or 'landing'})")
        print(f"      {s['rows']} rows, {s['units_present']} units present, {s['units_available']} available"
              + ("" if s["configured"] else "  [no credentials configured]"))
        if s["methods"]:
            print("      methods: " + ", ".join(f"{need} {method}" for need, method in sorted(s["methods"].items())))
        for warning in s["last_attempt_warnings"]:
            print(f"      warning: {warning[:300]}")
        if s["last_error"]:
            print(f"      last error: {s['last_error']}")
    return code
