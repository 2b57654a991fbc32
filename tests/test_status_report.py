"""`invsync status` exit codes and the stock report (numbers, and a real headless Chromium render)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from pipelines.config import FreshnessPolicy
from pipelines.marketplaces import MARKETPLACES
from pipelines.report import build_report, render_html
from pipelines.sync import run_sync
from pipelines.status import run_status
from tests.conftest import TEST_MARKETPLACES, settings_for


STATUS_KEYS = {"marketplace", "account", "name", "configured", "level", "last_success_at", "age_hours", "last_attempt_at",
               "last_attempt_status", "last_attempt_phase", "last_error", "last_attempt_warnings", "methods",
               "running_since", "running_phase", "rows", "units_present", "units_available", "credentials", "relevant"}


@pytest.fixture
def synced(published):
    """A warehouse with one clean sync of the standard sandbox published (the session's copy)."""
    return published


def test_status_exit_codes_follow_freshness(synced, capsys) -> None:
    now = datetime.now(timezone.utc)
    assert run_status(synced, now=now) == 0
    assert run_status(synced, now=now + timedelta(hours=7)) == 1
    out = capsys.readouterr().out
    assert "STALE" in out
    assert run_status(synced, as_json=True, now=now + timedelta(hours=25)) == 2
    payload = json.loads(capsys.readouterr().out)
    assert payload["exit_code"] == 2
    synced_ones = [m for m in payload["marketplaces"] if m["relevant"]]
    assert {m["marketplace"]: m["level"] for m in synced_ones} == {"ozon": "critical", "wb": "critical"}
    assert all(m["rows"] > 0 and m["units_present"] > 0 for m in synced_ones)
    # One never configured nor synced is listed as such, and counts for nothing in the exit code.
    assert [(m["marketplace"], m["configured"], m["last_attempt_at"]) for m in payload["marketplaces"] if not m["relevant"]
            ] == [(m.name, False, None) for m in MARKETPLACES if m.name not in TEST_MARKETPLACES]
    assert all(set(m) == STATUS_KEYS for m in payload["marketplaces"])  # the JSON shape people script against
    # The limits are `Settings.freshness` (INVSYNC_STALE_AFTER_HOURS / INVSYNC_CRITICAL_AFTER_HOURS).
    tight = replace(synced, freshness=FreshnessPolicy(stale_after_hours=1, critical_after_hours=2))
    assert run_status(tight, now=now + timedelta(hours=1.5)) == 1
    assert run_status(tight, now=now + timedelta(hours=3)) == 2


def test_status_of_an_empty_warehouse_is_critical(duckdb_url, capsys) -> None:
    settings = settings_for({"OZON_CLIENT_ID": "1", "OZON_API_KEY": "k"}, duckdb_url)
    import duckdb

    duckdb.connect(str(settings.warehouse.path)).close()  # there, never synced (a missing one: tests/test_exits.py)
    assert run_status(settings) == 2
    assert "CRITICAL" in capsys.readouterr().out


def test_status_shows_the_last_error(sandbox, synced, capsys) -> None:
    from pipelines.sandbox import Fault

    sandbox.add_fault(Fault(kind="server_error", path="/v2/warehouse/list", status=502, count=None))
    assert not run_sync(synced, which="ozon", backoff_base=0.01).ok
    assert run_status(synced) == 0  # the data is still fresh from the good sync
    out = capsys.readouterr().out
    assert "last attempt failed" in out and "server error 502" in out


def test_status_names_the_methods_used_and_a_fallback_taken(sandbox, synced, capsys) -> None:
    from pipelines.sandbox import Fault

    assert run_status(synced) == 0
    out = capsys.readouterr().out
    assert "methods: fbo stocks_by_warehouse_fbo, fbs warehouse_stocks" in out and "warning:" not in out
    sandbox.add_fault(Fault(kind="retired", path="/v1/product/info/stocks-by-warehouse/fbo", count=None))
    result = run_sync(synced, which="ozon", backoff_base=0.01)
    assert result.ok and result.results["ozon"].status == "partial", result.summary()
    assert run_status(synced, as_json=True) == 0
    ozon = {m["marketplace"]: m for m in json.loads(capsys.readouterr().out)["marketplaces"]}["ozon"]
    assert ozon["methods"]["fbo"] == "analytics_stocks" and ozon["last_attempt_status"] == "partial"
    assert any("fell back to /v1/analytics/stocks" in w for w in ozon["last_attempt_warnings"])
    run_status(synced)
    assert "warning: Ozon FBO per warehouse: Ozon /v1/product/info/stocks-by-warehouse/fbo: method not found" in capsys.readouterr().out


def test_report_numbers_match_the_sandbox_account(sandbox, synced) -> None:
    report = build_report(synced, low_stock=3)
    truth = sandbox.account.expected_inventory(TEST_MARKETPLACES)
    summary = sandbox.account.summary()
    totals = report.totals()
    for marketplace in ("ozon", "wb"):
        assert totals[marketplace]["present"] == summary[marketplace]["present"]
        assert totals[marketplace]["available"] == summary[marketplace]["available"]
    # Stock by marketplace, warehouse and type, recomputed from the sandbox's own truth.
    expected = defaultdict(int)
    for r in truth:
        expected[(r["marketplace"], r["warehouse_name"], r["stock_type"])] += r["quantity_available"]
    got = {(r["marketplace"], r["warehouse_name"], r["stock_type"]): int(r["available"]) for r in report.stock}
    assert got == dict(expected)
    # Cross-marketplace shortages: the same article short on one side, available on the other.
    per_side = defaultdict(int)
    for r in truth:
        per_side[(r["offer_id"], r["marketplace"])] += r["quantity_available"]
    shortages = {(offer, m) for (offer, m), units in per_side.items()
                 if units <= 3 and per_side.get((offer, "wb" if m == "ozon" else "ozon"), 0) > 3}
    assert {(r["offer_id"], r["short_on"]) for r in report.shortages} == shortages
    assert shortages, "the sandbox account should have some cross-marketplace shortages"
    # Articles the catalog mapping (dbt seed) does not know are listed, not dropped.
    assert report.unmapped and all(r["offer_id"] for r in report.unmapped)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_headless_chromium(synced, tmp_path) -> None:
    browser = chromium()
    if browser is None:
        if os.environ.get("REQUIRE_CHROMIUM") == "1":
            pytest.fail("REQUIRE_CHROMIUM=1 but chromium is not installed")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    page = tmp_path / "report.html"
    page.write_text(render_html(build_report(synced)), encoding="utf-8")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for section in ("freshness", "totals", "chart", "stock", "shortages", "unmapped", "catalog-missing", "history", "checks"):
        assert f'id="{section}"' in dom.stdout
    assert "data:image/png;base64," in dom.stdout
    console_errors = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and ("Error" in line or "Uncaught" in line)]
    assert console_errors == []

    shot = tmp_path / "report.png"
    run = subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2400)
    colors = image.getcolors(maxcolors=1_000_000) or []
    assert len(colors) > 50  # text, tables and the chart were painted, not a blank page
    # The freshness banner (green cards) is painted near the top of the page.
    top = image.crop((0, 0, 1280, 400))
    assert any(g > r + 20 and g > b for _, (r, g, b) in (top.getcolors(maxcolors=1_000_000) or []))


def test_report_puts_stock_and_findings_first_and_folds_the_catalog_mapping() -> None:
    """A fresh install's catalog-mapping lists run to hundreds of rows: they go last, behind a summary."""
    import html

    from pipelines.report import Report, check_finding

    unmapped = [{"marketplace": "wb", "offer_id": f"ART-{i}", "product_name": "x", "rows_": 1, "present": 1}
                for i in range(300)]
    finding = {"marketplace": "ozon", "suite": "moves", "expectation": "units_moved", "column_name": None,
               "severity": "warning", "success": False, "observed_value": "-40%", "unexpected_count": None,
               "unexpected_values": None, "details": '{"kind": "unusual move", "min_value": -0.1, "max_value": 0.1}'}
    passed = {**finding, "expectation": "units_present", "success": True}
    page = render_html(Report(datetime.now(timezone.utc), 5, [], unmapped=unmapped, checks=[passed, finding]))
    order = ["freshness", "totals", "findings", "shortages", "chart", "stock", "history", "checks", "unmapped",
             "catalog-missing"]
    positions = [page.index(f'<section id="{sid}">') for sid in order]
    assert positions == sorted(positions)
    findings = page[positions[2]:positions[3]]
    assert html.escape(check_finding(finding)) in findings  # the report's one wording of a finding
    assert "units_moved" in findings and "units_present" not in findings  # passes only in the full list
    folded = page[positions[8]:positions[9]]
    assert folded.startswith('<section id="unmapped"><h2>') and "<details><summary>300 articles: show the list</summary>" in folded
