"""Asset checks on `inventory_data` beyond its dbt tests.

- Great Expectations: one check per suite, read from the `validation_results` rows the audit
  of this run wrote (the audit ran before the publish; the checks show its verdict on the
  asset people actually use). A broken answer (a failed `critical` expectation, which held the
  marketplace back) is an ERROR; an unusual move (a failed `warning`, published) a WARN.
- Freshness, per marketplace: `invsync status`'s record (`pipelines.status.freshness`): stale
  data (`Settings.freshness`, 6 h by default) warns, no successful sync within the critical
  limit (24 h by default) is an error. They run after every publish and hourly (job
  `check_freshness`), because staleness is precisely what happens when nothing runs.
"""

# No `from __future__ import annotations`: Dagster reads these functions' type hints (context, resources).
from typing import Any, Iterator

from dagster import (
    AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetChecksDefinition,
    asset_check, multi_asset_check,
)

from orchestration.common import INVENTORY_KEY, MARKETPLACES, load_time_settings
from orchestration.resources import InvsyncResource
from pipelines.findings import finding
from pipelines.status import Freshness, freshness

GE_SUITES = {
    "inventory_validity": "Row rules: keys not null, known stock types, quantities not negative.",
    "inventory_broken_answers": "Broken answers (held back): empty or shorter catalog listing, API counters or the "
                                "answer's own totals disagreeing with what landed, units collapsing.",
    "inventory_moves": "Unusual moves (published, warned): units and stocked items against this account's history.",
    "inventory_warehouse_moves": "Unusual moves per warehouse against each place's own history.",
}


def ge_check_name(suite: str) -> str:
    return "ge_" + suite.removeprefix("inventory_")


def _describe_failure(row: dict[str, Any]) -> str:
    """The failed check in the words the console, status, report and mail use (pipelines.findings)."""
    return finding(row).line()


def evaluate_suite(suite: str, rows: list[dict[str, Any]]) -> AssetCheckResult:
    """The verdict of one suite over this run's validation_results rows."""
    name = ge_check_name(suite)
    mine = [r for r in rows if r["suite"] == suite]
    if not mine:
        return AssetCheckResult(check_name=name, asset_key=INVENTORY_KEY, passed=True,
                                description="Suite not evaluated in this run (e.g. no previous state to compare with).",
                                metadata={"evaluated": 0})
    failed = [r for r in mine if not r["success"]]
    critical = any(r["severity"] == "critical" for r in failed)
    return AssetCheckResult(
        check_name=name,
        asset_key=INVENTORY_KEY,
        passed=not failed,
        severity=AssetCheckSeverity.ERROR if critical else AssetCheckSeverity.WARN,
        description=" ".join(_describe_failure(r) for r in failed[:10]) or "All expectations passed.",
        metadata={"evaluated": len(mine), "failed": len(failed),
                  "marketplaces": ", ".join(sorted({r["marketplace"] for r in (failed or mine)}))},
    )


@multi_asset_check(
    specs=[AssetCheckSpec(ge_check_name(suite), asset=INVENTORY_KEY, description=f"Great Expectations: {text}")
           for suite, text in GE_SUITES.items()],
    name="great_expectations_checks",
    can_subset=True,
)
def great_expectations_checks(context: AssetCheckExecutionContext, invsync: InvsyncResource) -> Iterator[AssetCheckResult]:
    wh = invsync.warehouse()
    rows = wh.query(
        "select marketplace, suite, expectation, column_name, severity, success, observed_value, unexpected_count, "
        "unexpected_values, details from validation_results where run_id = %s",
        (context.run.run_id,),
    )
    selected = {key.name for key in context.selected_asset_check_keys}
    for suite in GE_SUITES:
        if ge_check_name(suite) in selected:
            yield evaluate_suite(suite, rows)


def freshness_result(info: Freshness) -> AssetCheckResult:
    """Pass when fresh or not relevant; WARN when stale; ERROR when critical (or never synced)."""
    name = f"freshness_{info.marketplace}"
    metadata = {"level": info.level, "age_hours": info.age_hours if info.age_hours is not None else -1.0,
                "last_success_at": str(info.last_success_at or "never")}
    if not info.relevant:
        return AssetCheckResult(check_name=name, asset_key=INVENTORY_KEY, passed=True, metadata=metadata,
                                description=f"{info.marketplace}: not configured and never synced (skipped by design).")
    return AssetCheckResult(
        check_name=name,
        asset_key=INVENTORY_KEY,
        passed=info.level == "fresh",
        severity=AssetCheckSeverity.ERROR if info.level == "critical" else AssetCheckSeverity.WARN,
        description=info.message(),
        metadata=metadata,
    )


def build_freshness_check(marketplace: str) -> AssetChecksDefinition:
    policy = load_time_settings().freshness

    @asset_check(asset=INVENTORY_KEY, name=f"freshness_{marketplace}",
                 description=f"{marketplace} data is fresh: a successful sync within {policy.stale_after_hours} h "
                             f"(warn) / {policy.critical_after_hours} h (error).")
    def _freshness(invsync: InvsyncResource) -> AssetCheckResult:
        settings = invsync.settings()
        return freshness_result(freshness(invsync.reader(settings), settings, marketplace))

    return _freshness


FRESHNESS_CHECKS = {marketplace: build_freshness_check(marketplace) for marketplace in MARKETPLACES}
ALL_CHECKS = [great_expectations_checks, *FRESHNESS_CHECKS.values()]
