"""`invsync report`: what stock there is and whether it can be trusted, for people.

All numbers come from SQL that both warehouses run (DuckDB and MySQL), never from Python
loops over rows. The HTML page is self-contained (inline CSS, charts as inline PNG data
URIs) so it can be mailed, archived or opened offline. The weekly email and the Dagster
report asset use `build_report` / `render_html` from here.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipelines.config import Settings
from pipelines.marketplaces import MARKETPLACES, NAMES
from pipelines.status import Freshness, read_status
from pipelines.warehouse import warehouse_for

# `kind`: physical, or aggregate for places that are totals over several warehouses (WB's
# "Склад WB" since Aug 2026); a table last written before the column existed says physical.
# `where`: empty for the report; the console's chart limits it to its caller's accounts.
STOCK_BY_PLACE = """
select marketplace, warehouse_name, {kind} as warehouse_kind, stock_type, count(*) as skus,
       sum(quantity_present) as present, sum(quantity_reserved) as reserved, sum(quantity_available) as available
from inventory_data{where}
group by marketplace, warehouse_name, {kind}, stock_type
order by marketplace, warehouse_name, stock_type
"""

# Items short (<= threshold available) on one marketplace but available on the other,
# matched by the seller's product id, else by article.
CROSS_MARKET_SHORTAGES = """
with per_market as (
    select coalesce(product_id, offer_id) as item, marketplace,
           max(offer_id) as offer_id, max(product_name) as product_name,
           sum(quantity_available) as available
    from inventory_data
    group by coalesce(product_id, offer_id), marketplace
)
select a.item, a.offer_id, coalesce(a.product_name, b.product_name) as product_name,
       a.marketplace as short_on, a.available as short_available,
       b.marketplace as available_on, b.available as other_available
from per_market a
join per_market b on b.item = a.item and b.marketplace <> a.marketplace
where a.available <= %s and b.available > %s
order by a.available, b.available desc, a.item
"""

UNMAPPED_PRODUCTS = """
select marketplace, offer_id, max(product_name) as product_name, count(*) as rows_,
       sum(quantity_present) as present
from inventory_data
where product_id is null
group by marketplace, offer_id
order by marketplace, offer_id
"""

# Every marketplace of the registry as a one-column table (`NAMES` are identifiers of our own, not input).
MARKETPLACE_ROWS = " union all ".join(f"select '{name}' as marketplace" for name in NAMES)

CATALOG_MISSING = f"""
select p.product_id, p.offer_id, p.name as product_name, m.marketplace
from products p
cross join ({MARKETPLACE_ROWS}) m
where not exists (
    select 1 from inventory_data i where i.product_id = p.product_id and i.marketplace = m.marketplace
)
order by m.marketplace, p.product_id
"""

SYNC_HISTORY = """
select id, marketplace, sync_type, status, started_at, duration_seconds, api_requests, retries,
       records_fetched, records_written, records_rejected, error_message, warnings
from sync_logs
order by started_at desc, id desc
limit 30
"""

LATEST_CHECKS = """
select v.marketplace, v.suite, v.expectation, v.column_name, v.severity, v.success,
       v.observed_value, v.unexpected_count, v.unexpected_values, v.details, v.validated_at
from validation_results v
join (select marketplace, max(validated_at) as at from validation_results group by marketplace) latest
  on latest.marketplace = v.marketplace and latest.at = v.validated_at
order by v.success, v.marketplace, v.suite, v.expectation
"""


@dataclass
class Report:
    generated_at: datetime
    low_stock: int
    freshness: list[Freshness]
    stock: list[dict[str, Any]] = field(default_factory=list)
    shortages: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[dict[str, Any]] = field(default_factory=list)
    catalog_missing: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for row in self.stock:
            t = out.setdefault(row["marketplace"], {"present": 0, "reserved": 0, "available": 0, "skus": 0})
            for key in t:
                t[key] += int(row[key] or 0)
        return out


def check_finding(check: dict[str, Any]) -> str:
    """A failed check as people should read it: a broken answer held that marketplace's publish
    back; an unusual move or a row check was published with a warning. With the range the
    check used and where that range came from (the account's history or the defaults)."""
    import json

    details = check.get("details")
    try:
        details = json.loads(details) if isinstance(details, str) else (details or {})
    except ValueError:
        details = {}
    kind = "BROKEN ANSWER, held back" if check["severity"] == "critical" else f"{details.get('kind') or 'warning'}, published"
    bounds = ", ".join(f"{k} {round(v, 1) if isinstance(v, float) else v}" for k, v in details.items()
                       if k in ("min_value", "max_value") and v is not None)
    source = details.get("range_source")
    return kind + (f" (range {bounds}" + (f"; {source}" if source else "") + ")" if bounds or source else "")


def build_report(settings: Settings, low_stock: int | None = None) -> Report:
    """Collect every section of the report with one query each (`low_stock`: INVSYNC_LOW_STOCK by
    default), all in one session: one snapshot, so the sections agree with each other, and one
    turn at a DuckDB file, so a report beside a sync waits for one write window, not for ten."""
    wh = warehouse_for(settings.warehouse, read_only=True)  # a reader: never breaks a running sync
    threshold = settings.low_stock if low_stock is None else low_stock
    with wh.session():
        report = Report(datetime.now(timezone.utc), threshold, read_status(wh, settings))
        if wh.table_exists("sync_logs"):
            report.history = wh.query(SYNC_HISTORY)
        if wh.table_exists("validation_results"):
            report.checks = wh.query(LATEST_CHECKS)
        if wh.table_exists("inventory_data"):
            kind = "coalesce(warehouse_kind, 'physical')" if "warehouse_kind" in wh.columns("inventory_data") else "'physical'"
            report.stock = wh.query(STOCK_BY_PLACE.format(kind=kind, where=""))
            report.shortages = wh.query(CROSS_MARKET_SHORTAGES, (threshold, threshold))
            report.unmapped = wh.query(UNMAPPED_PRODUCTS)
            if wh.table_exists("products"):
                report.catalog_missing = wh.query(CATALOG_MISSING)
    return report


# -- charts ------------------------------------------------------------------------------------
COLORS = {m.name: m.color for m in MARKETPLACES}  # grey: rows of unknown origin (a legacy import)


def _png_data_uri(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def stock_chart(report: Report) -> str | None:
    """Units available per warehouse, one bar per marketplace and warehouse."""
    if not report.stock:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_place: dict[tuple[str, str], int] = {}
    for row in report.stock:
        name = row["warehouse_name"] or "?"
        key = (row["marketplace"], f"{name} (aggregate)" if row.get("warehouse_kind") == "aggregate" else name)
        per_place[key] = per_place.get(key, 0) + int(row["available"] or 0)
    labels = [f"{m}: {w}" for m, w in per_place]
    colors = [COLORS.get(m, "#888888") for m, _ in per_place]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.3 * len(labels))))
    ax.barh(labels, list(per_place.values()), color=colors)
    ax.invert_yaxis()
    ax.set_xlabel("units available")
    ax.set_title("Available stock by warehouse")
    data = _png_data_uri(fig)
    plt.close(fig)
    return data


# -- HTML --------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(label)}</th>" for _, label in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(row.get(key))}</td>" for key, _ in columns) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _folded(count: int, noun: str, table: str) -> str:
    """A long list behind a one-line summary (open by a click; printed pages show the summary)."""
    if not count:
        return table
    return f"<details><summary>{count} {noun}{'' if count == 1 else 's'}: show the list</summary>{table}</details>"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d1d1f}
h1{margin:0 0 4px}h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}th{background:#f5f5f7}
.banner{display:flex;gap:12px;flex-wrap:wrap}.card{border-radius:8px;padding:12px 16px;min-width:260px}
.fresh{background:#e7f6ec;border:1px solid #34a853}.stale{background:#fff6e0;border:1px solid #f9ab00}
.critical{background:#fde8e7;border:1px solid #d93025}.empty{color:#777}.fail{color:#d93025;font-weight:600}
.totals td:nth-child(n+2){text-align:right}
"""


def render_html(report: Report) -> str:
    cards = []
    for s in report.freshness:
        label = {"fresh": "FRESH", "stale": "STALE", "critical": "CRITICAL"}[s.level]
        age = f"{s.age_hours} h ago" if s.age_hours is not None else "never synced"
        cards.append(
            f'<div class="card {s.level}" data-marketplace="{_e(s.marketplace)}">'
            f'<strong>{_e(s.marketplace.upper())}: {label}</strong><br>'
            f'last success {_e(s.last_success_at or "-")} ({_e(age)})<br>'
            f'last attempt: {_e(s.last_attempt_status or "-")}'
            + (f'<br><span class="fail">last error: {_e(s.last_error)}</span>' if s.last_error else "")
            + "</div>"
        )
    totals = report.totals()
    totals_rows = [{"marketplace": m, **t} for m, t in sorted(totals.items())]
    chart = stock_chart(report)
    checks = [{**c, "result": "pass" if c["success"] else check_finding(c)} for c in report.checks]
    findings = [c for c in checks if not c["success"]]
    # What people open the page for comes first: freshness, stock, what the checks found, what is
    # short. The catalog-mapping lists (hundreds of rows on a fresh install) come last, folded.
    sections = [
        ("freshness", "Freshness", f'<div class="banner">{"".join(cards)}</div>'),
        ("totals", "Stock per marketplace", _table(totals_rows, [("marketplace", "marketplace"), ("skus", "rows"),
            ("present", "present"), ("reserved", "reserved"), ("available", "available")], "No stock synced yet.")),
        ("findings", "Findings of the latest checks", _table(findings, [("marketplace", "marketplace"),
            ("result", "finding"), ("suite", "suite"), ("expectation", "expectation"), ("column_name", "column"),
            ("observed_value", "observed")], "The latest checks found nothing.")),
        ("shortages", f"Out of stock or low (≤ {report.low_stock}) on one marketplace, available on the other",
         _table(report.shortages, [("item", "product"), ("offer_id", "article"), ("product_name", "name"),
                ("short_on", "short on"), ("short_available", "available there"), ("available_on", "available on"),
                ("other_available", "available there")], "Nothing to move between marketplaces.")),
        ("chart", "Stock by warehouse (chart)",
         f'<img alt="Available stock by warehouse" src="{chart}">' if chart else '<p class="empty">No data.</p>'),
        ("stock", "Stock by marketplace, warehouse and type", _table(report.stock, [
            ("marketplace", "marketplace"), ("warehouse_name", "warehouse"), ("warehouse_kind", "place"),
            ("stock_type", "type"), ("skus", "rows"), ("present", "present"), ("reserved", "reserved"),
            ("available", "available")], "No stock synced yet.")),
        ("history", "Sync history", _table(report.history, [("started_at", "started (UTC)"), ("marketplace", "marketplace"),
            ("sync_type", "type"), ("status", "status"), ("duration_seconds", "seconds"), ("api_requests", "requests"),
            ("retries", "retries"), ("records_fetched", "fetched"), ("records_written", "written"),
            ("records_rejected", "rejected"), ("error_message", "error"), ("warnings", "warnings")], "No syncs yet.")),
        ("checks", "Latest expectation results (all)", _table(checks, [("marketplace", "marketplace"), ("suite", "suite"),
            ("expectation", "expectation"), ("column_name", "column"), ("result", "result"),
            ("observed_value", "observed"), ("unexpected_count", "unexpected"), ("unexpected_values", "examples")],
            "No checks recorded yet.")),
        ("unmapped", "Seen on a marketplace, missing from the catalog mapping (add to products.csv)",
         _folded(len(report.unmapped), "article", _table(report.unmapped, [("marketplace", "marketplace"),
                 ("offer_id", "article"), ("product_name", "name"), ("rows_", "rows"), ("present", "present")],
                 "Every article is mapped."))),
        ("catalog-missing", "Catalog products missing from a marketplace",
         _folded(len(report.catalog_missing), "product", _table(report.catalog_missing, [("product_id", "product"),
                 ("offer_id", "article"), ("product_name", "name"), ("marketplace", "missing on")],
                 "Every catalog product is on every marketplace."))),
    ]
    body = "".join(f'<section id="{sid}"><h2>{_e(title)}</h2>{content}</section>' for sid, title, content in sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Inventory report {report.generated_at:%Y-%m-%d %H:%M} UTC</title><style>{CSS}</style></head>"
        f"<body><h1>Inventory report</h1><p>Generated {report.generated_at:%Y-%m-%d %H:%M} UTC.</p>{body}</body></html>"
    )


def render_text(report: Report) -> str:
    lines = ["Freshness"]
    for s in report.freshness:
        lines.append(f"  {s.marketplace:5} {s.level.upper():8} last success {s.last_success_at or '-'}")
    lines.append("Stock per marketplace")
    for m, t in sorted(report.totals().items()):
        lines.append(f"  {m:5} {t['skus']:>7} rows {t['present']:>9} present {t['reserved']:>8} reserved {t['available']:>9} available")
    failed = [c for c in report.checks if not c["success"]]
    lines.append(f"Latest checks: {len(report.checks)} run, {len(failed)} failed")
    lines.extend(f"  {c['marketplace']:5} {check_finding(c)}: {c['expectation']}" for c in failed[:10])
    lines.append(f"Short on one marketplace, available on the other (≤ {report.low_stock}): {len(report.shortages)}")
    for r in report.shortages[:10]:
        lines.append(f"  {r['offer_id']}: {r['short_available']} on {r['short_on']}, {r['other_available']} on {r['available_on']}")
    lines.append(f"Articles missing from the catalog mapping: {len(report.unmapped)}")
    lines.append(f"Catalog products missing from a marketplace: {len(report.catalog_missing)}")
    return "\n".join(lines)


def run_report(settings: Settings, html_path: str | None = None) -> int:
    report = build_report(settings)
    if html_path:
        path = Path(html_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(report), encoding="utf-8")
        print(f"report written to {path.resolve()}")
    else:
        print(render_text(report))
    return 0
