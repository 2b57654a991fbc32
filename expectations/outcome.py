"""What an audit says about one marketplace's snapshot (`AuditOutcome`).

Its own module, without Great Expectations: the audit runs in a process of its own during a
CLI sync (`pipelines.sync.audit_worker`), and the sync's process reads the outcomes it sends
back without importing Great Expectations (seconds and ~250 MB) just to know their class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipelines.config_accounts import DEFAULT_ACCOUNT


@dataclass
class AuditOutcome:
    """What the checks said about one marketplace's snapshot."""

    marketplace: str
    account: str = DEFAULT_ACCOUNT  # the seller account whose snapshot this is
    critical: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    # The snapshot's totals; once published they are one more point of the account's history.
    totals: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.critical

    def summary(self) -> dict[str, Any]:
        return {"passed": self.passed, "critical": self.critical, "warnings": self.warnings,
                "checks": len(self.checks), "failed": sum(1 for c in self.checks if not c["success"]),
                "totals": self.totals}
