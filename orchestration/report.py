"""The weekly report email: stock per marketplace and warehouse, sync success rate, freshness,
top anomalies, and a small chart.

The stock numbers come from `pipelines.report.build_report` (the same report as
`invsync report`), whose full self-contained HTML page is attached. The mail body adds what
only a weekly summary needs (the week's success rate and anomalies) and carries its chart as
a `cid:` inline PNG rendered with matplotlib's Agg canvas: mail clients that block `data:`
images (Gmail, Outlook) still show it.
"""

# No `from __future__ import annotations`: Dagster reads these functions' type hints (context, resources).
import html
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from dagster import OpExecutionContext, job, op

from orchestration.common import MARKETPLACES, TAG_WAREHOUSE
from orchestration.health import utc_now
from orchestration.mailer import AlertMailer
from orchestration.resources import InvsyncResource, warehouse_kind
from pipelines import report as stock_report
from pipelines.config import Settings
from pipelines.findings import render as render_check
from pipelines.marketplaces import get
from pipelines.status import Freshness, read_status
from pipelines.config_accounts import account_key
from pipelines.warehouse import Warehouse

CHART_CID = "stock-chart"
WAREHOUSES_PER_MARKETPLACE = 15
PERIOD_DAYS = 7


@dataclass
class WeeklyReport:
    generated_at: datetime
    stock: stock_report.Report  # `invsync report`: stock per marketplace, warehouse and type
    syncs: dict[str, dict[str, int]] = field(default_factory=dict)  # account (`account_key`) -> {status: count} this week
    freshness: list[Freshness] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    # The week's longest out-of-stock spells (stockouts: open now, or ended this week), longest first.
    stockouts: list[dict[str, Any]] = field(default_factory=list)

    def success_rate(self, marketplace: str) -> float | None:
        counts = self.syncs.get(marketplace, {})
        total = sum(counts.values())
        return None if not total else (counts.get("success", 0) + counts.get("partial", 0)) / total

    def units_by_type(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for row in self.stock.stock:
            by_type = out.setdefault(row["marketplace"], {})
            by_type[row["stock_type"]] = by_type.get(row["stock_type"], 0) + int(row["present"] or 0)
        return out



def finding(severity: str) -> str:
    """How people read a failed check: a broken answer held the publish back; anything else
    was published (an unusual move, or rows rejected)."""
    return "broken answer (held back)" if severity == "critical" else "unusual move / warning (published)"

def collect(wh: Warehouse, settings: Settings, now: datetime | None = None) -> WeeklyReport:
    now = now or utc_now()
    since = (now - timedelta(days=PERIOD_DAYS)).astimezone(timezone.utc).replace(tzinfo=None)
    report = WeeklyReport(generated_at=now, stock=stock_report.build_report(settings))
    for row in wh.query("select marketplace, account, status, count(*) as n from sync_logs where started_at >= %s "
                        "and status <> 'running' group by marketplace, account, status", (since,)):
        report.syncs.setdefault(account_key(row["marketplace"], row["account"]), {})[row["status"]] = int(row["n"])
    for row in wh.query("select marketplace, account, sum(records_rejected) as n from sync_logs where started_at >= %s "
                        "group by marketplace, account", (since,)):
        if row["n"]:
            report.anomalies.append({"marketplace": account_key(row["marketplace"], row["account"]),
                                     "check": "rows rejected (not published)",
                                     "severity": "warning", "count": int(row["n"]), "observed": ""})
    # Each failing check of the week once, counted, in the plain words of its latest failure.
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in wh.query(
        "select marketplace, account, suite, expectation, column_name, severity, success, observed_value, unexpected_count, "
        "unexpected_values, details from validation_results where validated_at >= %s and success = %s "
        "order by validated_at desc limit 2000",
        (since, False),
    ):
        name = account_key(row["marketplace"], row["account"])
        key = (name, row["suite"], row["expectation"], row["column_name"], row["severity"])
        if key not in groups:
            groups[key] = {"marketplace": name, "check": render_check(row), "severity": row["severity"],
                           "count": 0, "observed": row["observed_value"] or ""}
        groups[key]["count"] += 1
    report.anomalies += groups.values()
    report.anomalies.sort(key=lambda a: (a["severity"] != "critical", -a["count"]))  # broken answers first
    report.anomalies = report.anomalies[:10]
    report.freshness = read_status(wh, settings, now)
    report.stockouts = longest_stockouts(wh, since)
    return report


STOCKOUTS_IN_REPORT = 10


def longest_stockouts(wh: Warehouse, since: datetime, limit: int = STOCKOUTS_IN_REPORT) -> list[dict[str, Any]]:
    """The longest out-of-stock spells that reached into the week (still open, or ended since
    `since`), longest first, with the product and place as the stock table names them. Empty
    before the stock history exists (it starts at the upgrade that added it)."""
    if not (wh.table_exists("stockouts") and wh.table_exists("inventory_data")):
        return []
    return wh.query(
        "select s.marketplace, s.account, s.sku, s.warehouse_id, s.stock_type, s.started_at, s.ended_at, s.duration_hours, "
        "i.offer_id, i.product_name, coalesce(i.warehouse_name, s.warehouse_id) as warehouse_name "
        "from stockouts s left join inventory_data i on i.marketplace = s.marketplace and i.account = s.account "
        "and i.sku = s.sku "
        "and i.warehouse_id = s.warehouse_id and i.stock_type = s.stock_type "
        "where s.ended_at is null or s.ended_at >= %s "
        "order by s.duration_hours desc, s.marketplace, s.sku, s.warehouse_id, s.stock_type, s.started_at limit %s",
        (since, limit))


def _stockout_rows(report: WeeklyReport) -> list[list[Any]]:
    return [[account_key(s["marketplace"], s["account"]), s["offer_id"] or s["sku"], s["product_name"] or "", s["warehouse_name"], s["stock_type"],
             f"{s['started_at']:%Y-%m-%d %H:%M}", f"{s['ended_at']:%Y-%m-%d %H:%M}" if s["ended_at"] else "still out",
             f"{float(s['duration_hours']):.1f}"] for s in report.stockouts]


def render_chart(report: WeeklyReport) -> bytes:
    """Units present per marketplace and stock type, as a small PNG (no display, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    totals = report.units_by_type()
    types = sorted({t for by_type in totals.values() for t in by_type}) or ["FBO"]
    fig = Figure(figsize=(6, 3), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(MARKETPLACES)
    for i, marketplace in enumerate(MARKETPLACES):
        values = [totals.get(marketplace, {}).get(t, 0) for t in types]
        ax.bar([x + i * width for x in range(len(types))], values, width, label=marketplace,
               color=get(marketplace).color)
    ax.set_xticks([x + width * (len(MARKETPLACES) - 1) / 2 for x in range(len(types))], types)
    ax.set_ylabel("units present")
    ax.set_title("Stock by marketplace and fulfilment scheme")
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th align='left'>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table border='1' cellpadding='4' cellspacing='0'><tr>{head}</tr>{body}</table>"


def _rate(report: WeeklyReport, marketplace: str) -> str:
    rate = report.success_rate(marketplace)
    counts = report.syncs.get(marketplace, {})
    return "no syncs" if rate is None else f"{rate:.0%} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})"


def _stock_rows(report: WeeklyReport) -> list[list[Any]]:
    """Per marketplace its largest warehouses; the rest summed up (the attachment has them all)."""
    rows: list[list[Any]] = []
    for marketplace in MARKETPLACES:
        mine = sorted((r for r in report.stock.stock if r["marketplace"] == marketplace),
                      key=lambda r: -int(r["present"] or 0))
        for r in mine[:WAREHOUSES_PER_MARKETPLACE]:
            rows.append([marketplace, r["warehouse_name"] or "?", r["stock_type"], int(r["skus"]),
                         int(r["present"] or 0), int(r["available"] or 0)])
        rest = mine[WAREHOUSES_PER_MARKETPLACE:]
        if rest:
            rows.append([marketplace, f"{len(rest)} more", "", sum(int(r["skus"]) for r in rest),
                         sum(int(r["present"] or 0) for r in rest), sum(int(r["available"] or 0) for r in rest)])
    return rows


def render_html(report: WeeklyReport, chart_cid: str = CHART_CID) -> str:
    fresh_rows = [[f.name, f.level.upper() if f.relevant else "not configured", f.message()]
                  for f in report.freshness]
    week = [[f.name, _rate(report, f.name), f.units_present] for f in report.freshness if f.relevant]
    anomalies = [[a["marketplace"], a["check"], finding(a["severity"]), a["count"], a["observed"]] for a in report.anomalies]
    return (
        "<html><body style='font-family: sans-serif'>"
        f"<h2>invsync weekly report — {report.generated_at:%Y-%m-%d %H:%M} UTC</h2>"
        f"<p><img src='cid:{chart_cid}' alt='stock chart' width='600'></p>"
        "<h3>Freshness</h3>" + _table(["marketplace", "state", "last successful sync"], fresh_rows)
        + f"<h3>Syncs in the last {PERIOD_DAYS} days</h3>"
        + _table(["account", "success rate", "units present now"], week)
        + "<h3>Stock per marketplace and warehouse</h3>"
        + _table(["marketplace", "warehouse", "type", "rows", "present", "available"], _stock_rows(report))
        + "<h3>Longest stockouts this week</h3>"
        + (_table(["marketplace", "article", "product", "warehouse", "type", "out since (UTC)", "until", "hours"],
                  _stockout_rows(report)) if report.stockouts else "<p>None recorded.</p>")
        + "<h3>Top anomalies</h3>"
        + (_table(["marketplace", "check", "finding", "times", "observed"], anomalies) if anomalies else "<p>None.</p>")
        + "<p>The full stock report (shortages, catalog mapping, sync history) is attached.</p></body></html>"
    )


def render_text(report: WeeklyReport) -> str:
    lines = [f"invsync weekly report — {report.generated_at:%Y-%m-%d %H:%M} UTC", ""]
    for f in report.freshness:
        lines.append(f"{f.name}: {f.level if f.relevant else 'not configured'}; "
                     f"syncs {_rate(report, f.name)}; {f.units_present} units present")
    lines += ["", "Longest stockouts this week:"]
    lines += [f"  {r[0]} {r[1]} at {r[3]} ({r[4]}): {r[7]} h, since {r[5]}, until {r[6]}"
              for r in _stockout_rows(report)] or ["  none recorded"]
    lines += ["", "Top anomalies:"]
    lines += [f"  {a['marketplace']} {a['check']} ({finding(a['severity'])}) x{a['count']}" for a in report.anomalies] or ["  none"]
    return "\n".join(lines) + "\n"


def build_email(report: WeeklyReport) -> tuple[str, str, str, dict[str, bytes], dict[str, str]]:
    """(subject, text, html, inline images by content id, attachments by file name)."""
    subject = f"[invsync] weekly report {report.generated_at:%Y-%m-%d}"
    attachment = {f"inventory-report-{report.generated_at:%Y-%m-%d}.html": stock_report.render_html(report.stock)}
    return subject, render_text(report), render_html(report), {CHART_CID: render_chart(report)}, attachment


@op(description="Collect the week's numbers from the warehouse and mail the report.")
def send_weekly_report(context: OpExecutionContext, invsync: InvsyncResource, mailer: AlertMailer) -> None:
    settings = invsync.settings()
    report = collect(invsync.warehouse(settings), settings)
    subject, text, body, images, attachments = build_email(report)
    if mailer.send(subject, settings.mask(text), settings.mask(body), images,
                   {name: settings.mask(page) for name, page in attachments.items()}, settings=settings):
        context.log.info(f"sent: {subject}")
    else:
        context.log.warning("SMTP_HOST/ALERT_EMAIL_TO not set: the weekly report was not mailed")


@job(name="weekly_report", tags={TAG_WAREHOUSE: warehouse_kind()},
     description="Weekly stock report email (HTML with an inline chart, the full report attached).")
def weekly_report() -> None:
    send_weekly_report()
