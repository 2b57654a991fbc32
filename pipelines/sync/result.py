"""What a sync reports: one outcome per marketplace, the whole run, and how long each phase took.

A marketplace's outcome *is* its `sync_logs` row's status (`SyncRecord.status`), so the CLI
summary, `invsync status`, the web service, the Dagster assets and the sensors read one state:
`running` until the sync ends (a landed marketplace waits for its publish in that state),
then `success`, `partial` (published with rejected rows or warnings), `failed` (nothing of it
published: the previous good data stays) or `interrupted` (its process died). `skipped` is
the one outcome without a row: the marketplace has no credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pipelines.config_accounts import DEFAULT_ACCOUNT, account_key
from pipelines.sync_log import SyncRecord


class Outcome(str, Enum):
    """A marketplace's sync outcome; the values are those stored in `sync_logs.status`."""

    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"

    def __str__(self) -> str:  # prints as the stored value (f-strings, summaries)
        return self.value

    @property
    def published(self) -> bool:
        return self in (Outcome.SUCCESS, Outcome.PARTIAL)


@dataclass
class MarketplaceResult:
    """One seller account of one marketplace in one sync: its record (None when skipped) and
    what landing reported."""

    marketplace: str
    record: SyncRecord | None = None
    message: str = ""  # why it was skipped, or what failed (masked, one line)
    row_counts: dict[str, int] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)  # what the API reported (totals, methods)
    account: str = DEFAULT_ACCOUNT

    @property
    def key(self) -> str:
        """Its name in `SyncResult.results` (`account_key`)."""
        return account_key(self.marketplace, self.account)

    @property
    def status(self) -> Outcome:
        return Outcome.SKIPPED if self.record is None else Outcome(self.record.status)

    @property
    def landed(self) -> bool:
        """Its data is in the raw tables and waits for the write–audit–publish step."""
        rec = self.record
        return rec is not None and rec.status == Outcome.RUNNING and rec.load_id is not None


@dataclass
class SyncResult:
    run_id: str
    sync_type: str
    results: dict[str, MarketplaceResult]  # by `account_key`: `ozon`, `ozon/acme`, ...
    # Seconds per phase (`landing`, `staging`, `audit`, `publish`), measured by the core: the
    # benchmark reads them instead of timing its own copy of the sequence.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def synced(self) -> dict[str, MarketplaceResult]:
        """The accounts this sync ran (every one not skipped for want of credentials)."""
        return {name: r for name, r in self.results.items() if r.record is not None}

    @property
    def ok(self) -> bool:
        """No marketplace failed (`partial` published with warnings, which the summary shows)."""
        return all(r.status not in (Outcome.FAILED, Outcome.INTERRUPTED) for r in self.results.values())

    @property
    def clean(self) -> bool:
        """Every marketplace succeeded without warnings or was skipped."""
        return all(r.status in (Outcome.SUCCESS, Outcome.SKIPPED) for r in self.results.values())

    def summary(self) -> str:
        lines = [f"sync {self.run_id} ({self.sync_type})"]
        for name, r in self.synced.items():
            rec = r.record
            lines.append(
                f"  {name:5} {r.status:8} {rec.records_fetched} rows fetched, "
                f"{rec.api_requests} requests, {rec.retries} retries, {rec.duration_seconds}s"
                + (f" — {rec.error_message}" if rec.error_message else "")
            )
            lines.extend(f"        warning: {w[:300]}" for w in rec.warnings)
        # Unconfigured marketplaces last, on one line: skipped by design, never an error.
        skipped = [f"{name} ({r.message})" for name, r in self.results.items() if r.record is None]
        if skipped:
            lines.append("  not configured, skipped: " + "; ".join(skipped))
        return "\n".join(lines)
