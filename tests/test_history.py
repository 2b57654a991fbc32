"""Stock history (issue 25): `inventory_history`, `inventory_daily` and `stockouts`, written by
each publish, on DuckDB and MariaDB.

One test per warehouse walks a scripted sequence of sandbox changes over several real syncs
(sandbox over HTTP → dlt → dbt → audit → publish) and holds the history to exactly the
intervals the sequence implies. The changes are made by hand on two Ozon seller-warehouse
rows (no `tick()`: its random changes would touch other keys), so every other key must keep
the single open interval of its first publish: history invents nothing.

The sequence (T_n = the start of the n-th published Ozon sync):
  T0  the first publish: one open interval per key;
  T1  row A sells out;
  T2  A is restocked, row B vanishes from the answer (inventory_data zeroes it);
  --  a held-back sync (empty account) sees A change again: nothing is written, and a
      hand-run `dbt build` of the history afterwards writes nothing either;
  T3  B returns; A's change is seen now;
  --  A changes in a sync whose history build fails (a damaged table): inventory_data is
      published and the sync warns (partial); history does not move;
  T4  a forced full resync that finds one change (B's reserve): only that change is written,
      and history catches up with A's change, dated at the sync that published it.
At the end the daily rows and the stockouts must be what the expected intervals imply
(computed here independently, in Python, in the schedules' time zone), and a real `invsync
serve` on the warehouse serves the intervals (`GET /api/v1/inventory/history`: filters, keyset
pages, CSV) and draws the product page's chart and stockouts; the weekly mail lists the
longest stockouts.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pipelines.sandbox import Fault
from pipelines.sandbox.account import N_OZ_SELLER, OZON_SELLER_WAREHOUSES
from pipelines.sync import run_sync
from pipelines.sync.dbt import run_dbt
from pipelines.warehouse import warehouse_for
from tests.conftest import settings_for

KEY = ("marketplace", "sku", "warehouse_id", "stock_type")
Key = tuple[str, str, str, str]
# (valid_from, valid_to, present, reserved)
Interval = tuple[datetime, "datetime | None", int, int]


def sync(settings: Any, **kwargs: Any) -> Any:
    return run_sync(settings, backoff_base=0.01, **kwargs)


def history(settings: Any) -> dict[Key, list[Interval]]:
    """Every key's intervals, oldest first."""
    rows = warehouse_for(settings.warehouse).query(
        "select * from inventory_history order by marketplace, sku, warehouse_id, stock_type, valid_from")
    out: dict[Key, list[Interval]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in KEY), []).append(  # type: ignore[arg-type]
            (r["valid_from"], r["valid_to"], int(r["quantity_present"]), int(r["quantity_reserved"])))
    return out


def inventory(settings: Any) -> dict[Key, dict[str, Any]]:
    rows = warehouse_for(settings.warehouse).query("select * from inventory_data")
    return {tuple(r[k] for k in KEY): r for r in rows}  # type: ignore[misc]


def synced_at(settings: Any, marketplace: str = "ozon") -> datetime:
    """The time of the marketplace's last publish: every row it confirmed carries it."""
    rows = warehouse_for(settings.warehouse).query(
        "select max(last_sync_at) as t from inventory_data where marketplace = %s", (marketplace,))
    return rows[0]["t"]


def seller_rows(sandbox: Any, settings: Any, n: int) -> list[Key]:
    """`n` published Ozon seller-warehouse rows with stock, whose product has other stock too
    (so the changes below stay ordinary rows, not a product that empties)."""
    rows = [k for k, r in sorted(inventory(settings).items())
            if k[0] == "ozon" and k[3] in ("FBS", "realFBS") and int(r["quantity_present"]) > 2
            and int(r["quantity_reserved"]) == 0]
    assert len(rows) >= n, "the standard sandbox account has Ozon seller stock"
    return rows[:n]


def set_seller_stock(sandbox: Any, key: Key, present: int, reserved: int, listed: bool = True) -> None:
    """Set an Ozon seller-warehouse row in the sandbox's account (`listed=False`: the answer no
    longer carries it, as when a seller removes a product from a warehouse)."""
    account = sandbox.account
    with account.lock:
        i = account.index_by_sku(int(key[1]))
        w = next(w for w, wh in enumerate(OZON_SELLER_WAREHOUSES) if str(wh.warehouse_id) == key[2])
        slot = i * N_OZ_SELLER + w
        account.fbs_on[slot] = 1 if listed else 0
        account.fbs_pr[slot], account.fbs_res[slot] = present, reserved
        account.changed()


def expected_daily(intervals: dict[Key, list[Interval]], until: dict[str, datetime],
                   zone: str) -> dict[tuple[Key, date], dict[str, float]]:
    """The daily rows the intervals imply: each interval cut at the local days' bounds, an open
    interval known up to its marketplace's latest publish (`until`)."""
    tz = ZoneInfo(zone)

    def local(t: datetime) -> datetime:
        return t.replace(tzinfo=timezone.utc).astimezone(tz).replace(tzinfo=None)

    pieces: dict[tuple[Key, date], list[tuple[datetime, int, int, float]]] = {}
    for key, ivs in intervals.items():
        for valid_from, valid_to, present, reserved in ivs:
            start, end = local(valid_from), local(valid_to or until[key[0]])
            day = start.date()
            while day <= end.date():
                day_start = datetime.combine(day, time())
                day_end = day_start + timedelta(days=1)
                if start < day_end and end > day_start:
                    seconds = (min(end, day_end) - max(start, day_start)).total_seconds()
                    pieces.setdefault((key, day), []).append((start, present, present - reserved, seconds))
                day += timedelta(days=1)
    out = {}
    for k, ps in pieces.items():
        last = max(ps)
        out[k] = {"quantity_present_end": last[1], "quantity_available_end": last[2],
                  "quantity_available_min": min(p[2] for p in ps), "quantity_available_max": max(p[2] for p in ps),
                  "hours_unavailable": sum(p[3] for p in ps if p[2] == 0) / 3600,
                  "hours_tracked": sum(p[3] for p in ps) / 3600}
    return out


def expected_stockouts(intervals: dict[Key, list[Interval]],
                       until: dict[str, datetime]) -> dict[tuple[Key, datetime], tuple[datetime | None, float]]:
    """The spells the intervals imply: runs of intervals with nothing available."""
    out: dict[tuple[Key, datetime], tuple[datetime | None, float]] = {}
    for key, ivs in intervals.items():
        spell: list[Interval] = []
        for iv in [*ivs, None]:
            if iv is not None and iv[2] - iv[3] == 0:
                spell.append(iv)
                continue
            if spell:
                started, ended = spell[0][0], spell[-1][1]
                out[(key, started)] = (ended, ((ended or until[key[0]]) - started).total_seconds() / 3600)
                spell = []
    return out


def daily(settings: Any) -> dict[tuple[Key, date], dict[str, float]]:
    rows = warehouse_for(settings.warehouse).query("select * from inventory_daily")
    return {(tuple(r[k] for k in KEY), r["stock_date"]): {c: float(r[c]) for c in r if c.startswith(("quantity_", "hours_"))}
            for r in rows}  # type: ignore[misc]


def stockouts(settings: Any) -> dict[tuple[Key, datetime], tuple[datetime | None, float]]:
    rows = warehouse_for(settings.warehouse).query("select * from stockouts")
    return {(tuple(r[k] for k in KEY), r["started_at"]): (r["ended_at"], float(r["duration_hours"]))
            for r in rows}  # type: ignore[misc]


def assert_daily_and_stockouts(settings: Any, intervals: dict[Key, list[Interval]]) -> None:
    """Daily rows and stockouts equal what the intervals imply (hours as stored: 6 decimals)."""
    until = {mp: synced_at(settings, mp) for mp in ("ozon", "wb")}
    want, got = expected_daily(intervals, until, settings.schedule_timezone), daily(settings)
    assert set(got) == set(want)
    for k, row in want.items():
        for column, value in row.items():
            assert got[k][column] == pytest.approx(value, abs=2e-6), (k, column, got[k], row)
    want_spells, got_spells = expected_stockouts(intervals, until), stockouts(settings)
    assert set(got_spells) == set(want_spells)
    for k, (ended, hours) in want_spells.items():
        assert got_spells[k][0] == ended, k
        assert got_spells[k][1] == pytest.approx(hours, abs=2e-6), k


def rename_history_column(settings: Any, old: str, new: str) -> None:
    """Damage (or repair) inventory_history so that its incremental build fails."""
    wh = warehouse_for(settings.warehouse)
    with wh.connection() as conn:
        wh.execute(conn, f"alter table inventory_history rename column {old} to {new}")


def published_ok(result: Any) -> None:
    assert result.results["ozon"].status in ("success", "partial"), result.summary()


def walk_the_sequence(sandbox: Any, settings: Any) -> tuple[Key, Key, dict[Key, list[Interval]]]:
    """The scripted sequence of the module docstring on a warehouse holding one publish.

    Its syncs are Ozon's (the rows it changes are Ozon's): WB's history must stay as its one
    publish wrote it, which the expected intervals (WB's from the baseline) also hold."""
    first = inventory(settings)
    t0 = {mp: synced_at(settings, mp) for mp in ("ozon", "wb")}
    baseline = history(settings)
    # T0: history starts with the state the first publish confirmed, one open interval per key.
    assert baseline == {k: [(t0[k[0]], None, int(r["quantity_present"]), int(r["quantity_reserved"]))]
                        for k, r in first.items()}
    a, b = seller_rows(sandbox, settings, 2)
    qa, qb = (int(first[k]["quantity_present"]) for k in (a, b))

    set_seller_stock(sandbox, a, 0, 0)  # a sellout
    published_ok(sync(settings, which="ozon"))
    t1 = synced_at(settings)

    set_seller_stock(sandbox, a, 12, 2)  # a restock
    set_seller_stock(sandbox, b, 0, 0, listed=False)  # a product that disappears
    published_ok(sync(settings, which="ozon"))
    t2 = synced_at(settings)
    assert int(inventory(settings)[b]["quantity_present"]) == 0  # zeroed, as the contract says
    expected = {**baseline,
                a: [(t0["ozon"], t1, qa, 0), (t1, t2, 0, 0), (t2, None, 12, 2)],
                b: [(t0["ozon"], t2, qb, 0), (t2, None, 0, 0)]}
    assert history(settings) == expected

    # A held-back sync: its snapshot is never published, so history does not move; nor does a
    # data person's hand-run build of the history (it rebuilds each marketplace's last published
    # load: Ozon none, WB its first, already written) with its tests, which must pass.
    set_seller_stock(sandbox, a, 5, 0)
    sandbox.add_fault(Fault(kind="empty_account", count=None))
    held = sync(settings, which="ozon")
    assert held.results["ozon"].status == "failed", held.summary()
    sandbox.clear_faults()
    assert history(settings) == expected
    before = (daily(settings), stockouts(settings))
    run_dbt(settings, ["build", "--select", "inventory_history", "inventory_daily", "stockouts"])
    assert history(settings) == expected
    assert (daily(settings), stockouts(settings)) == before

    set_seller_stock(sandbox, b, 7, 1)  # the product returns
    published_ok(sync(settings, which="ozon"))
    t3 = synced_at(settings)
    expected = {**expected,
                a: [*expected[a][:2], (t2, t3, 12, 2), (t3, None, 5, 0)],
                b: [expected[b][0], (t2, t3, 0, 0), (t3, None, 7, 1)]}
    assert history(settings) == expected

    # The history build fails after the merge (its table damaged): inventory_data is published,
    # so the sync is not `failed` but warns; history stays as it was.
    set_seller_stock(sandbox, a, 3, 0)
    rename_history_column(settings, "quantity_reserved", "damaged_reserved")
    broken = sync(settings, which="ozon")
    rename_history_column(settings, "damaged_reserved", "quantity_reserved")
    assert broken.results["ozon"].status == "partial", broken.summary()
    assert any("stock history not written" in w for w in broken.results["ozon"].record.warnings)
    t_broken = synced_at(settings)
    assert int(inventory(settings)[a]["quantity_present"]) == 3 and history(settings) == expected

    # A forced full resync reloads everything; only the one real change is written, and the
    # history catches up with the change the damaged build missed, dated when it was published.
    set_seller_stock(sandbox, b, 7, 0)
    full = sync(settings, which="ozon", full=True)
    published_ok(full)
    assert full.results["ozon"].record.sync_type == "full"
    t4 = synced_at(settings)
    expected = {**expected,
                a: [*expected[a][:3], (t3, t_broken, 5, 0), (t_broken, None, 3, 0)],
                b: [*expected[b][:2], (t3, t4, 7, 1), (t4, None, 7, 0)]}
    got = history(settings)
    assert got == expected, {k: v for k, v in got.items() if expected.get(k) != v}
    # The open intervals are the current table.
    assert {k: v[-1][2:] for k, v in got.items()} == {
        k: (int(r["quantity_present"]), int(r["quantity_reserved"])) for k, r in inventory(settings).items()}
    assert_daily_and_stockouts(settings, expected)
    spells = stockouts(settings)
    assert spells[(a, t1)][0] == t2 and spells[(b, t2)][0] == t3  # the sellout, the vanished row
    check_daily_retention(settings, a)
    return a, b, expected


def check_daily_retention(settings: Any, key: Key) -> None:
    """`history_daily_retention_days` (730 by default): a hand-run build of inventory_daily
    deletes the days older than that before the newest publish's day, and keeps the others."""
    wh = warehouse_for(settings.warehouse)
    today = max(day for (k, day) in daily(settings) if k[0] == key[0])
    old, kept = today - timedelta(days=731), today - timedelta(days=730)
    with wh.connection() as conn:
        for day in (old, kept):
            # the key's own account (retention counts back from each account's newest publish)
            wh.execute(conn, "insert into inventory_daily (marketplace, account, sku, warehouse_id, stock_type, stock_date, "
                             "quantity_present_end, quantity_available_end, quantity_available_min, "
                             "quantity_available_max, hours_unavailable, hours_tracked) "
                             "values (%s, 'default', %s, %s, %s, %s, 1, 1, 1, 1, 0, 24)", [*key, day])
    run_dbt(settings, ["run", "--select", "inventory_daily"])
    days = {day for (k, day) in daily(settings) if k == key}
    assert kept in days and old not in days and today in days


def check_the_api_and_the_product_page(sandbox: Any, settings: Any, a: Key, expected: dict[Key, list[Interval]],
                                       tmp_path: Any, in_browser: bool = False) -> None:
    """`invsync serve` on the warehouse: the history endpoint and the product page of row A."""
    from pipelines.web.reads import plain
    from pipelines.web.security import new_token
    from tests.test_web import console_login, start_server, stop_server, web_env

    viewer, operator = new_token(), new_token()
    env = {**sandbox.env(), "WAREHOUSE_URL": settings.warehouse_url,
           "INVSYNC_DATASET_PREFIX": settings.dataset_prefix, **web_env(viewer, operator)}
    server = start_server(env, tmp_path / "server.log", "history", settings, viewer, operator)
    try:
        product = inventory(settings)[a]["marketplace_product_id"]
        mine = {k: v for k, v in expected.items()
                if k[0] == "ozon" and inventory(settings)[k]["marketplace_product_id"] == product}
        want = [(*k, plain(iv[0]), plain(iv[1]), iv[2], iv[3]) for k, ivs in sorted(mine.items()) for iv in ivs]
        # Keyset pages of two: every interval of the product exactly once, in key order.
        got, after, pages = [], None, 0
        while True:
            params = {"marketplace": "ozon", "product": product, "limit": 2, **({"after": after} if after else {})}
            answer = server.get("/api/v1/inventory/history", viewer, params=params)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            got += [(r["marketplace"], r["sku"], r["warehouse_id"], r["stock_type"], r["valid_from"], r["valid_to"],
                     r["quantity_present"], r["quantity_reserved"]) for r in page["items"]]
            pages += 1
            after = page["next"]
            if not after:
                break
        assert got == want and pages == -(-len(want) // 2)
        # Filters like /inventory: the intervals of the row's warehouse and stock type with stock.
        stocked = server.get("/api/v1/inventory/history", viewer, params={
            "marketplace": "ozon", "product": product, "warehouse": a[2], "stock_type": a[3], "in_stock": "true"}).json()
        assert [(r["valid_from"], r["quantity_available"]) for r in stocked["items"]] == \
            [(plain(iv[0]), iv[2] - iv[3]) for iv in expected[a] if iv[2] - iv[3] > 0]
        # A time window: only the intervals that overlap it.
        t1, t2 = expected[a][1][0], expected[a][1][1]
        window = server.get("/api/v1/inventory/history", viewer, params={
            "marketplace": "ozon", "product": product, "warehouse": a[2], "stock_type": a[3],
            "since": plain(t1), "until": plain(t2)}).json()["items"]
        assert [r["valid_from"] for r in window] == [plain(t1)]  # the sellout interval alone
        # CSV, and 422 (never 500) on nonsense.
        csv = server.get("/api/v1/inventory/history", viewer, params={"product": product, "limit": 1},
                         headers={"Accept": "text/csv"})
        assert csv.headers["Content-Type"].startswith("text/csv") and csv.headers["X-Next-Cursor"]
        assert csv.text.splitlines()[0].startswith("marketplace,account,sku,warehouse_id,stock_type,valid_from,valid_to,")
        for bad in ({"after": "not-a-cursor"}, {"since": "yesterday"}, {"limit": 0}, {"marketplace": "amazon"}):
            assert server.get("/api/v1/inventory/history", viewer, params=bad).status_code == 422, bad
        assert server.get("/api/v1/inventory/history").status_code == 401
        # The product page: one chart line per warehouse, and the sellout among its stockouts.
        browser = console_login(server, viewer)
        html = browser.get(f"{server.url}/products/ozon/{product}", timeout=30).text
        places = {inventory(settings)[k]["warehouse_name"] for k in mine}
        assert '<svg xmlns="http://www.w3.org/2000/svg" class="stock-chart"' in html
        assert sorted(re.findall(r'<polyline class="series" data-place="([^"]+)"', html)) == sorted(places)
        assert 'id="product-stockouts"' in html
        assert html.count('<tr class="stockout') == sum(1 for (k, _start) in stockouts(settings) if k in mine)
        if in_browser:
            check_the_chart_in_chromium(server, viewer, product, len(places), tmp_path)
    finally:
        stop_server(server)


def check_the_chart_in_chromium(server: Any, viewer: str, product: str, lines: int, tmp_path: Any) -> None:
    """The product page in headless Chromium: the chart is drawn (one visible line per
    warehouse, inside the plot) under the console's CSP, with no script error or CSP violation."""
    from tests.test_web import Chromium, browser_login, chromium_or_skip

    browser = Chromium(chromium_or_skip(), tmp_path / "profile")
    try:
        browser_login(browser, server, viewer)
        browser.goto(f"{server.url}/products/ozon/{product}")
        browser.wait("!!document.getElementById('stock-chart')")
        drawn = browser.js(
            "(() => { const svg = document.getElementById('stock-chart').getBoundingClientRect();"
            " return [...document.querySelectorAll('#stock-chart polyline.series')].map(p => {"
            " const b = p.getBoundingClientRect();"
            " return {w: b.width, inside: b.left >= svg.left && b.right <= svg.right + 1"
            " && b.top >= svg.top && b.bottom <= svg.bottom + 1}; }); })()")
        assert len(drawn) == lines and all(d["w"] > 100 and d["inside"] for d in drawn), drawn
        assert browser.js("document.querySelectorAll('#product-stockouts tbody tr').length") >= 1
        assert browser.problems == []  # no script errors, no CSP violations
    finally:
        browser.close()


def check_the_weekly_report(settings: Any, expected: dict[Key, list[Interval]]) -> None:
    """The weekly mail lists the week's longest stockouts: the longest spells the intervals
    imply, longest first, with their places; in the HTML and the text."""
    from orchestration.report import STOCKOUTS_IN_REPORT, collect, render_html, render_text

    until = {mp: synced_at(settings, mp) for mp in ("ozon", "wb")}
    spells = expected_stockouts(expected, until)
    report = collect(warehouse_for(settings.warehouse), settings)
    listed = [((r["marketplace"], r["sku"], r["warehouse_id"], r["stock_type"]), r["started_at"]) for r in report.stockouts]
    hours = [float(r["duration_hours"]) for r in report.stockouts]
    assert len(listed) == min(STOCKOUTS_IN_REPORT, len(spells)) and hours == sorted(hours, reverse=True)
    for spell, h in zip(listed, hours):
        assert spells[spell][1] == pytest.approx(h, abs=2e-6)
    assert all(k in listed for k, (_end, h) in spells.items() if h > hours[-1] + 1e-5)  # none longer left out
    html, text = render_html(report), render_text(report)
    assert "Longest stockouts this week" in html and "Longest stockouts this week:" in text
    assert report.stockouts[0]["warehouse_name"] in html


def test_history_follows_a_scripted_sequence_on_duckdb(sandbox, published, tmp_path) -> None:
    a, _b, expected = walk_the_sequence(sandbox, published)
    check_the_api_and_the_product_page(sandbox, published, a, expected, tmp_path, in_browser=True)
    check_the_weekly_report(published, expected)


@pytest.mark.mysql
def test_history_follows_a_scripted_sequence_on_mariadb(sandbox, mysql_url, tmp_path) -> None:
    settings = settings_for(sandbox.env(), mysql_url)
    assert sync(settings).clean
    # An index lost (or a table from before one was added): the next publish adds it back, of
    # the history and of inventory_data alike (a multi-statement hook once failed the publish).
    wh = warehouse_for(settings.warehouse)
    with wh.connection() as conn:
        wh.execute(conn, "drop index ix_open on inventory_history")
        wh.execute(conn, "drop index ix_inventory_product on inventory_data")
    a, _b, expected = walk_the_sequence(sandbox, settings)
    check_the_api_and_the_product_page(sandbox, settings, a, expected, tmp_path)
    indexes = {(r["table_name"], r["index_name"]) for r in wh.query(
        "select distinct table_name as table_name, index_name as index_name from information_schema.statistics "
        "where table_schema = database() and table_name in ('inventory_history', 'inventory_daily', 'stockouts', "
        "'inventory_data')")}
    assert indexes == {("inventory_data", "ux_inventory_grain"), ("inventory_data", "ix_inventory_marketplace_sync"),
                       ("inventory_data", "ix_inventory_product"),("inventory_history", "ux_grain"), ("inventory_history", "ix_open"),
                       ("inventory_history", "ix_from"), ("inventory_daily", "ux_grain"),
                       ("inventory_daily", "ix_daily_date"), ("stockouts", "ux_grain"),
                       ("stockouts", "ix_stockouts_started")}
