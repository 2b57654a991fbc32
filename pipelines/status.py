"""`invsync status`: can the stock numbers be trusted right now?

Per seller account of each marketplace (`ozon`, `ozon/acme`: the `default` account goes by the
marketplace's name alone): the last successful sync and its age, the last attempt and its outcome,
its warnings (a fallback method taken, a retired method met) and the API methods it used,
row and unit totals, the last error. Exit code 0 when everything is fresh, 1 when some data
is stale, 2 when it is critical or was never synced (`Settings.freshness`: older than
INVSYNC_STALE_AFTER_HOURS, 6 by default, is stale; older than INVSYNC_CRITICAL_AFTER_HOURS,
24 by default, critical), so it works as a cron or monitoring check.

`Freshness` is the one status record. It is built here only (`read_status`, `freshness`) and
read by `invsync status`, the report, the web service and the Dagster checks, sensors and
weekly e-mail; its `to_dict()` is the JSON of `invsync status --json` and GET /api/v1/status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Mapping

from pipelines import sync_log
from pipelines.account_scope import AccountScope
from pipelines.config import FreshnessPolicy, Settings
from pipelines.config_accounts import DEFAULT_ACCOUNT, account_key
from pipelines.marketplaces import MARKETPLACES, Marketplace, get
from pipelines.sync_log import SyncRecord, account_of
from pipelines.warehouse import SYNC_LOCK, Warehouse, warehouse_for


# The sync_logs columns status and report read (a legacy importer's table has none of these).
SYNC_LOG_COLUMNS = {"marketplace", "status", "started_at", "finished_at", "error_message"}

LEVELS = {"fresh": 0, "stale": 1, "critical": 2}  # the exit code of each level


@dataclass(frozen=True)
class Freshness:
    """One account's state: how old its last published data is, how its last attempt ended,
    what it holds. An account never synced is `Freshness(name, configured)`: critical, empty."""

    marketplace: str
    configured: bool  # its credentials are set
    level: str = "critical"  # fresh | stale | critical, judged by `policy`
    last_success_at: str | None = None  # when its last published sync finished (UTC)
    age_hours: float | None = None  # how long ago that was
    last_attempt_at: str | None = None  # when its last finished (or died) attempt started
    last_attempt_status: str | None = None  # that attempt's sync_logs status (an `Outcome` value)
    last_attempt_phase: str | None = None  # where an interrupted attempt died
    last_error: str | None = None  # of its last failed or interrupted attempt
    last_attempt_warnings: tuple[str, ...] = ()
    methods: Mapping[str, str] = field(default_factory=dict)  # stock need -> the API method that answered it
    credentials: str | None = None  # what its credentials allow, as its last attempt read them (`counts.credentials`)
    running_since: str | None = None  # a sync of it in progress
    running_phase: str | None = None
    rows: int = 0  # in inventory_data
    units_present: int = 0
    units_available: int = 0
    policy: FreshnessPolicy = field(default_factory=FreshnessPolicy, repr=False, compare=False)
    account: str = DEFAULT_ACCOUNT  # the seller account (`pipelines.config_accounts`)

    @property
    def name(self) -> str:
        """How people see it: `ozon` for the default account, `ozon/acme` for another."""
        return account_key(self.marketplace, self.account)

    @property
    def relevant(self) -> bool:
        """Configured, or with history. One that is neither is skipped by design: no alarm."""
        return self.configured or self.last_attempt_at is not None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `invsync status --json` and GET /api/v1/status."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "policy"}
        return {**out, "name": self.name, "relevant": self.relevant, "last_attempt_warnings": list(self.last_attempt_warnings),
                "methods": dict(self.methods)}

    def message(self) -> str:
        """One line for checks and alerts: the last success, its age and the limit it was judged by."""
        if self.age_hours is None:
            return f"{self.name}: no successful sync recorded"
        return (f"{self.name}: last successful sync {self.last_success_at} UTC, "
                f"{self.age_hours} h ago (limit {self.policy.limit_hours(self.level)} h)")


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


def _read(wh: Warehouse, settings: Settings, market: Marketplace, now: datetime,
          dead: list[SyncRecord], tables: "_Tables", account: str = DEFAULT_ACCOUNT) -> Freshness:
    """One account's record from sync_logs and inventory_data. A sync whose process died
    counts as what it is (`dead`, from `dead_syncs`): `interrupted`, or a success when its data
    was published before it died, even before the next sync records that in sync_logs."""
    marketplace = market.name

    def latest(condition: str) -> dict[str, Any] | None:
        rows = wh.query(
            f"select * from sync_logs where marketplace = %s and {tables.sync_logs_account} = %s and {condition} "
            "order by started_at desc, id desc limit 1",
            (marketplace, account),
        )
        return rows[0] if rows else None

    concluded = [_as_row(rec) for rec in dead if rec.marketplace == marketplace and rec.account == account]
    success = _newest([latest("status in ('success', 'partial')")]
                      + [r for r in concluded if r["status"] in ("success", "partial")])
    attempt = _newest([latest("status <> 'running'")] + concluded)
    failed = _newest([latest("status in ('failed', 'interrupted')")]
                     + [r for r in concluded if r["status"] == "interrupted"])
    dead_ids = {r["id"] for r in concluded}
    running = [r for r in wh.query(f"select * from sync_logs where marketplace = %s and {tables.sync_logs_account} = %s "
                                   "and status = 'running' order by started_at desc, id desc", (marketplace, account))
               if r["id"] not in dead_ids]
    totals = {"rows": 0, "units_present": 0, "units_available": 0}
    if tables.inventory_account is not None:
        row = wh.query(
            "select count(*) as n, coalesce(sum(quantity_present), 0) as present, "
            "coalesce(sum(quantity_available), 0) as available from inventory_data "
            f"where marketplace = %s and {tables.inventory_account} = %s",
            (marketplace, account),
        )[0]
        totals = {"rows": int(row["n"]), "units_present": int(row["present"]), "units_available": int(row["available"])}
    age = _age_hours(success["finished_at"] if success else None, now)
    return Freshness(
        marketplace=marketplace,
        account=account,
        configured=_configured(settings, market, account),
        level=settings.freshness.level(age),
        last_success_at=str(success["finished_at"]) if success else None,
        age_hours=age,
        last_attempt_at=str(attempt["started_at"]) if attempt else None,
        last_attempt_status=attempt["status"] if attempt else None,
        last_attempt_phase=_phase(attempt) if attempt and attempt["status"] == "interrupted" else None,
        last_error=failed["error_message"] if failed else None,
        last_attempt_warnings=tuple(_json_list(attempt.get("warnings"))) if attempt else (),
        methods=_methods(attempt.get("details")) if attempt else {},
        credentials=_counts(attempt.get("details")).get("credentials") if attempt else None,
        running_since=str(running[0]["started_at"]) if running else None,
        running_phase=_phase(running[0]) if running else None,
        policy=settings.freshness,
        **totals,
    )


def _phase(row: dict[str, Any]) -> str | None:
    details = row.get("details")
    data = (json.loads(details) if isinstance(details, str) else details) or {}
    return (data.get("interrupted") or {}).get("phase") or data.get("phase")


def _json_list(value: Any) -> list[str]:
    if not value:
        return []
    data = json.loads(value) if isinstance(value, str) else value
    return [str(v) for v in data] if isinstance(data, list) else [str(data)]


def _counts(details: Any) -> dict[str, Any]:
    """The `counts` a sync recorded in its details (what the API reported, methods, credentials)."""
    if not details:
        return {}
    data = json.loads(details) if isinstance(details, str) else details
    return (data or {}).get("counts") or {}


def _methods(details: Any) -> dict[str, str]:
    """Which API method answered each stock need in that sync (`*_method` counts)."""
    counts = _counts(details)
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


@dataclass(frozen=True)
class _Tables:
    """What one status read knows of the tables, read once (a reader beside a sync pays for
    every query): how each names a row's account, and the accounts sync_logs has seen."""

    sync_logs_account: str
    inventory_account: str | None  # None: no inventory_data yet
    seen: frozenset[tuple[str, str]]  # (marketplace, account) of every sync_logs row


def _tables(wh: Warehouse) -> _Tables:
    account = account_of(wh, "sync_logs")
    seen = frozenset((r["marketplace"], r["account"])
                     for r in wh.query(f"select distinct marketplace, {account} as account from sync_logs"))
    return _Tables(account, account_of(wh, "inventory_data") if wh.table_exists("inventory_data") else None, seen)


def _configured(settings: Settings, market: Marketplace, account: str) -> bool:
    """The account is in the configuration with its credentials set."""
    return any(a.id == account for a in settings.syncable_accounts(market))


def accounts_to_report(settings: Settings, market: Marketplace,
                       seen: frozenset[tuple[str, str]] = frozenset()) -> list[str]:
    """The marketplace's accounts worth a record: every one of the accounts file; `default` when
    it has credentials or is the marketplace's only account (a single-account install's, shown
    "not configured" without them); and any other that left rows in sync_logs (removed from the
    file, its history and published stock are still there)."""
    listed = settings.accounts_of(market)
    ids = [a.id for a in listed if not a.is_default or len(listed) == 1 or _configured(settings, market, a.id)]
    ids += sorted(account for marketplace, account in seen if marketplace == market.name)
    return list(dict.fromkeys(ids))


def read_status(wh: Warehouse, settings: Settings, now: datetime | None = None,
                scope: AccountScope = None, markets: tuple[Marketplace, ...] = MARKETPLACES) -> list[Freshness]:
    """Every account's record of `markets`, read through `wh`, of the accounts of `scope` (None:
    all; the web service passes a token's accounts: another client's failures and units are not
    its to see); a warehouse never synced (no sync_logs yet) reports no history. Raises
    UnmigratedWarehouse when `sync_logs` has another layout."""
    now = now or datetime.now(timezone.utc)

    def seen(account: str) -> bool:
        return scope is None or account in scope

    with wh.session():  # one turn at the file and one snapshot: a reader beside a sync waits once
        if not wh.table_exists("sync_logs"):
            return [Freshness(m.name, _configured(settings, m, a), policy=settings.freshness, account=a)
                    for m in markets for a in accounts_to_report(settings, m) if seen(a)]
        check_sync_log_layout(wh)
        dead, tables = dead_syncs(wh), _tables(wh)
        return [_read(wh, settings, m, now, dead, tables, a)
                for m in markets for a in accounts_to_report(settings, m, tables.seen) if seen(a)]


def worst(records: list[Freshness]) -> Freshness:
    """The record that decides a marketplace's freshness: its least fresh relevant account (an
    account with no credentials and no history is skipped by design)."""
    relevant = [r for r in records if r.relevant] or records
    return max(relevant, key=lambda r: (LEVELS[r.level], r.age_hours is None, r.age_hours or 0.0))


def freshness(wh: Warehouse, settings: Settings, marketplace: str, now: datetime | None = None) -> Freshness:
    """A marketplace's record for the Dagster checks and sensors, which watch one marketplace at a
    time: its least fresh account (`worst`), whose name its message carries."""
    return worst(read_status(wh, settings, now, markets=(get(marketplace),)))


def collect_status(settings: Settings, now: datetime | None = None) -> list[Freshness]:
    """`read_status` of the configured warehouse, opened read-only: on DuckDB a reader that
    takes turns with a sync's writes, never breaking it; it never migrates."""
    return read_status(warehouse_for(settings.warehouse, read_only=True), settings, now)


def exit_code(statuses: list[Freshness]) -> int:
    """Only marketplaces that are configured or have history count towards the exit code."""
    return max((LEVELS[s.level] for s in statuses if s.relevant), default=LEVELS["critical"])


def payload(statuses: list[Freshness]) -> dict[str, Any]:
    """The JSON of `invsync status --json`."""
    return {"exit_code": exit_code(statuses), "marketplaces": [s.to_dict() for s in statuses]}


def run_status(settings: Settings, as_json: bool = False, now: datetime | None = None) -> int:
    try:
        statuses = collect_status(settings, now)
    except UnmigratedWarehouse as exc:
        # Nothing can be trusted until it is migrated: critical, with what to do.
        print(json.dumps({"exit_code": 2, "error": str(exc)}) if as_json else f"CRITICAL {exc}")
        return LEVELS["critical"]
    code = exit_code(statuses)
    if as_json:
        print(json.dumps(payload(statuses), ensure_ascii=False, default=str, indent=2))
        return code
    for s in statuses:
        if not s.relevant:  # skipped by design: one line, no alarm
            print(f"{s.name:5} -        not configured, never synced")
            continue
        label = {"fresh": "OK", "stale": "STALE", "critical": "CRITICAL"}[s.level]
        age = f"{s.age_hours} h ago" if s.age_hours is not None else "never"
        outcome = s.last_attempt_status or "-"
        if s.last_attempt_phase:
            outcome += f" during {s.last_attempt_phase}"
        print(f"{s.name:5} {label:8} last success {s.last_success_at or '-'} ({age}); "
              f"last attempt {outcome} at {s.last_attempt_at or '-'}")
        if s.running_since:
            print(f"      a sync is running since {s.running_since} ({s.running_phase or 'landing'})")
        print(f"      {s.rows} rows, {s.units_present} units present, {s.units_available} available"
              + ("" if s.configured else "  [no credentials configured]"))
        if s.credentials:
            print(f"      {s.credentials}")
        if s.methods:
            print("      methods: " + ", ".join(f"{need} {method}" for need, method in sorted(s.methods.items())))
        for warning in s.last_attempt_warnings:
            print(f"      warning: {warning[:300]}")
        if s.last_error:
            print(f"      last error: {s.last_error}")
    return code
