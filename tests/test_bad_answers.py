"""One bad answer must not wedge the pipeline (issue 15).

The real sync (sandbox over HTTP → dlt → dbt → audit → publish) on DuckDB and MariaDB, with
the bad answers produced by the sandbox's fault injection:
- typed validation at the edge: a quantity that is not a whole number fitting 64 bits
  rejects its row with a reason, never rounded; the rest publishes (`partial`);
- a unique grain by construction: a repeated item is rejected, never summed, and
  inventory_data refuses two rows with one key on either warehouse;
- quarantine: a package that cannot be loaded is set aside with its reason, the marketplace
  fails in one line, and the next sync starts clean;
- utf8mb4 on MySQL/MariaDB whatever the database default; long product names stored whole.
After every corrupted answer, the next sync with good answers matches the sandbox's truth.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from pipelines import marketplaces
from pipelines.sync.dbt import run_dbt
from pipelines.sync import run_sync
from pipelines.sync.landing import make_pipeline, state_dir
from pipelines.sandbox import Fault
from pipelines.warehouse import warehouse_for
from tests.conftest import MYSQL_HOST, MYSQL_PASSWORD, MYSQL_PORT, MYSQL_USER, drop_databases, remove, settings_for
from tests.test_inventory import assert_matches_truth, inventory


def sync(settings, **kwargs):
    return run_sync(settings, backoff_base=0.01, **kwargs)


def settings_of(sandbox, url: str, **extra: str):
    return settings_for(sandbox.env(), url, **extra)


def rejected(settings, marketplace: str) -> list[dict[str, Any]]:
    return warehouse_for(settings.warehouse).query(
        "select sku, warehouse_id, stock_type, quantity_present, quantity_reserved, rejection_reason "
        "from int_inventory__snapshot where marketplace = %s and rejection_reason is not null", (marketplace,))


def pending(settings, marketplace: str) -> list[str]:
    pipeline = make_pipeline(settings, marketplaces.get(marketplace))
    return list(pipeline.list_extracted_load_packages()) + list(pipeline.list_normalized_load_packages())


def assert_grain_unique(settings) -> None:
    rows = warehouse_for(settings.warehouse).query(
        "select marketplace, sku, warehouse_id, stock_type, count(*) as n from inventory_data "
        "group by marketplace, sku, warehouse_id, stock_type having count(*) > 1")
    assert rows == []


# ---------------------------------------------------------------------- typed validation
BAD_QUANTITIES = [
    # (marketplace, path, field, value or "<missing>", which item of the answer, what the reason says)
    ("ozon", "/v1/product/info/warehouse/stocks", "present", "12 pcs", 0, 'present: text, not a number ("12 pcs")'),
    ("ozon", "/v1/product/info/stocks-by-warehouse/fbo", "present", 3.7, 0, "present: not a whole number (3.7)"),
    ("ozon", "/v1/product/info/stocks-by-warehouse/fbo", "reserved", "", 1, "reserved: empty text"),
    ("ozon", "/v1/product/info/warehouse/stocks", "present", 2**65, 1, "present: out of the 64-bit range"),
    ("ozon", "/v1/product/info/warehouse/stocks", "reserved", "<missing>", 2, "reserved: missing"),
    ("wb", "/api/analytics/v1/stocks-report/wb-warehouses", "quantity", "many", 0, 'quantity: text, not a number ("many")'),
    ("wb", "/api/analytics/v1/stocks-report/wb-warehouses", "inWayToClient", 2.5, 1, "inWayToClient: not a whole number (2.5)"),
    ("wb", "/api/v3/stocks/{warehouseId}", "amount", None, 0, "amount: null"),
]


def _fault(path: str, field: str, value: Any, nth: int = 0) -> Fault:
    if value == "<missing>":
        return Fault(kind="missing_value", path=path, field=field, count=1, nth=nth)
    return Fault(kind="bad_value", path=path, field=field, value=value, count=1, nth=nth)


def add_bad_quantities(sandbox, cases: list[tuple]) -> list[str]:
    """Inject each case's bad value on a row of its own (one faulted sync for all); their reasons."""
    for _, path, field, value, nth, _ in cases:
        sandbox.add_fault(_fault(path, field, value, nth))
    return [reason for *_, reason in cases]


def assert_each_rejected_alone(rows: list[dict[str, Any]], reasons: list[str]) -> None:
    """One rejected row per bad value, and each row names exactly its own value's reason."""
    assert len(rows) == len(reasons), rows
    for reason in reasons:
        matching = [r for r in rows if reason in r["rejection_reason"]]
        assert len(matching) == 1, (reason, rows)
        assert matching[0]["rejection_reason"].startswith("invalid quantity: ")
        assert matching[0]["rejection_reason"].count(": ") == 2, matching[0]  # "invalid quantity: <field>: <why>"


@pytest.mark.parametrize("marketplace", ["ozon", "wb"])
def test_bad_quantities_reject_their_rows_only_and_the_next_sync_matches_the_truth(sandbox, published, marketplace) -> None:
    """Every kind of bad quantity in one faulted sync, each on its own row."""
    settings = published
    before = inventory(settings)

    reasons = add_bad_quantities(sandbox, [c for c in BAD_QUANTITIES if c[0] == marketplace])
    bad = sync(settings, which=marketplace)
    result = bad.results[marketplace]
    assert result.status == "partial", bad.summary()
    assert_each_rejected_alone(rejected(settings, marketplace), reasons)
    assert result.record.records_rejected == len(reasons)
    for reason in reasons:
        assert any(reason.split(" (")[0] in w for w in result.record.warnings), (reason, result.record.warnings)
    # Nothing rounded, truncated or zeroed: each rejected key keeps its published value, and
    # every other row is published as the (unchanged) account has it.
    after = inventory(settings)
    assert {k: (r["quantity_present"], r["quantity_reserved"]) for k, r in after.items()} == \
        {k: (r["quantity_present"], r["quantity_reserved"]) for k, r in before.items()}
    assert pending(settings, marketplace) == []

    good = sync(settings, which=marketplace)
    assert good.clean, good.summary()
    assert rejected(settings, marketplace) == []
    assert_matches_truth(settings, sandbox, marketplace)


@pytest.mark.mysql
def test_bad_quantities_on_mariadb(sandbox, mysql_url) -> None:
    settings = settings_of(sandbox, mysql_url)
    cases = [BAD_QUANTITIES[1], BAD_QUANTITIES[3], BAD_QUANTITIES[5]]  # a fraction, beyond 64 bits, text
    add_bad_quantities(sandbox, cases)
    bad = sync(settings)
    for marketplace in ("ozon", "wb"):
        assert bad.results[marketplace].status == "partial", bad.summary()
        mine = [c for c in cases if c[0] == marketplace]
        rows = rejected(settings, marketplace)
        assert_each_rejected_alone(rows, [reason for *_, reason in mine])
        # MySQL's cast('12 pcs' as signed) would say 12: the raw column never holds text.
        for row in rows:
            assert (marketplace, row["sku"], row["warehouse_id"], row["stock_type"]) not in inventory(settings)
    good = sync(settings)
    assert good.clean, good.summary()
    assert_matches_truth(settings, sandbox)


def test_a_sold_out_row_whose_quantity_turns_null_is_not_kept_silently(sandbox, published) -> None:
    """A null quantity used to keep the old value with status `success`: now it is a rejected row."""
    settings = published
    sandbox.tick()
    sandbox.add_fault(Fault(kind="bad_value", path="/api/v3/stocks/{warehouseId}", field="amount", value=None, count=1))
    result = sync(settings, which="wb").results["wb"]
    assert result.status == "partial" and result.record.records_rejected == 1
    assert sync(settings, which="wb").clean
    assert_matches_truth(settings, sandbox, "wb")


# ---------------------------------------------------------------------- the grain
REPEATED = {"ozon": ("/v1/product/info/warehouse/stocks", "/v1/product/info/stocks-by-warehouse/fbo"),
            "wb": ("/api/analytics/v1/stocks-report/wb-warehouses", "/api/v3/stocks/{warehouseId}")}


def test_a_repeated_item_is_rejected_never_summed(sandbox, synced_once) -> None:
    """Every stock answer repeats an item in one faulted sync: each repeat is its own rejected key."""
    settings = synced_once
    before = inventory(settings)
    for paths in REPEATED.values():
        for path in paths:
            sandbox.add_fault(Fault(kind="duplicate_item", path=path, count=1))
    bad = sync(settings)
    for marketplace, paths in REPEATED.items():
        result = bad.results[marketplace]
        assert result.status == "partial", bad.summary()
        rows = rejected(settings, marketplace)
        assert len(rows) == len(paths) and len({r["stock_type"] for r in rows}) == len(paths), rows
        assert {r["rejection_reason"] for r in rows} == \
            {"duplicate key: the answer carried 2 identical rows for it (none published)"}
        assert any("duplicate key" in w for w in result.record.warnings)
    assert_grain_unique(settings)
    # Not doubled: the keys (and all the rest) keep what was published before.
    assert {k: r["quantity_present"] for k, r in inventory(settings).items()} == \
        {k: r["quantity_present"] for k, r in before.items()}
    good = sync(settings)
    assert good.clean, good.summary()
    assert_matches_truth(settings, sandbox)
    assert_grain_unique(settings)


def test_conflicting_copies_are_rejected_with_their_own_reason(sandbox, published) -> None:
    """Two rows for one key with different quantities (the repeat changed afterwards)."""
    settings = published
    sandbox.add_fault(Fault(kind="duplicate_item", path="/v1/product/info/warehouse/stocks", count=1))
    sandbox.add_fault(Fault(kind="bad_value", path="/v1/product/info/warehouse/stocks", field="reserved",
                            value=0, count=1))
    sandbox.add_fault(Fault(kind="bad_value", path="/v1/product/info/warehouse/stocks", field="present",
                            value=10**6, count=1))
    assert sync(settings, which="ozon").results["ozon"].status == "partial"
    reasons = {r["rejection_reason"] for r in rejected(settings, "ozon")}
    assert reasons == {"duplicate key: the answer carried 2 rows with different quantities for it (none published)"}
    assert not any(int(r["quantity_present"]) == 10**6 for r in inventory(settings).values())
    assert sync(settings, which="ozon").clean
    assert_matches_truth(settings, sandbox, "ozon")


def test_inventory_data_refuses_two_rows_with_one_key(synced_once) -> None:
    settings = synced_once
    wh = warehouse_for(settings.warehouse)
    columns = ", ".join(wh.columns("inventory_data"))
    with pytest.raises(Exception, match="(?i)duplicate|constraint|unique"):
        with wh.connection() as conn:
            wh.execute(conn, f"insert into inventory_data ({columns}) select {columns} from inventory_data limit 1")
    assert_grain_unique(settings)


def test_a_duckdb_table_from_before_the_constraint_is_collapsed_and_then_constrained(sandbox, published) -> None:
    import duckdb

    settings = published
    con = duckdb.connect(str(settings.warehouse.path))
    con.execute("drop index ux_inventory_grain")  # as an older version left it, with a doubled key
    con.execute("insert into inventory_data select * from inventory_data where rowid = (select min(rowid) from inventory_data)")
    con.close()
    sandbox.tick()
    assert sync(settings).ok
    assert_grain_unique(settings)
    assert_matches_truth(settings, sandbox)
    run_dbt(settings, ["build"])  # the data team's build, its uniqueness tests included


# ---------------------------------------------------------------------- quarantine
def quarantined(settings, marketplace: str) -> list[Path]:
    root = state_dir(settings) / "quarantine" / f"invsync_{marketplace}"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


def test_an_answer_that_cannot_be_landed_fails_in_one_line_and_the_next_sync_is_clean(sandbox, published) -> None:
    """A field whose type drifts on one page (a seller warehouse id as text) cannot be
    normalized: the marketplace fails once, nothing stays pending, the next sync succeeds."""
    settings = published
    sandbox.add_fault(Fault(kind="bad_value", path="/v1/product/info/warehouse/stocks", field="warehouse_id",
                            value="abc", count=1))
    bad = sync(settings, which="ozon")
    result = bad.results["ozon"]
    if result.status == "failed":
        assert "\n" not in result.message and "Traceback" not in result.message, result.message
    assert pending(settings, "ozon") == []
    good = sync(settings, which="ozon")
    assert good.clean, good.summary()
    assert_matches_truth(settings, sandbox, "ozon")


def test_a_package_the_warehouse_refuses_is_set_aside_and_the_next_sync_starts_clean(sandbox, published) -> None:
    import duckdb

    settings = published
    con = duckdb.connect(str(settings.warehouse.path))  # the warehouse refuses FBS rows for a while
    con.execute("alter table raw_ozon.fbs_stocks rename to fbs_stocks_kept")
    con.execute("create view raw_ozon.fbs_stocks as select * from raw_ozon.fbs_stocks_kept")
    con.close()
    sandbox.tick()
    bad = sync(settings, which="ozon")
    result = bad.results["ozon"]
    assert result.status == "failed", bad.summary()
    assert "could not be loaded into the warehouse" in result.message and "set aside in" in result.message
    assert "\n" not in result.message and "Traceback" not in result.message
    assert pending(settings, "ozon") == []  # never retried forever
    [folder] = quarantined(settings, "ozon")
    reason = (folder / "REASON.txt").read_text()
    assert f"load id: {folder.name}" in reason and "reason: " in reason
    assert any(folder.rglob("*.parquet")) or any(p.is_file() for p in folder.rglob("*")), "the package is kept"

    con = duckdb.connect(str(settings.warehouse.path))
    con.execute("drop view raw_ozon.fbs_stocks")
    con.execute("alter table raw_ozon.fbs_stocks_kept rename to fbs_stocks")
    con.close()
    good = sync(settings, which="ozon")
    assert good.clean, good.summary()
    assert_matches_truth(settings, sandbox, "ozon")


def test_a_package_an_interrupted_sync_left_that_cannot_load_is_set_aside_not_retried(sandbox, published) -> None:
    import duckdb

    from pipelines.marketplaces import CatalogBase
    from pipelines.sync.landing import extract_in_child

    settings = published
    # A sync that extracted and normalized, then died before its load ...
    outcome = extract_in_child(settings, "wb", False, 0.01, CatalogBase())
    assert outcome["error"] is None and pending(settings, "wb")
    con = duckdb.connect(str(settings.warehouse.path))  # ... and a package the warehouse refuses
    con.execute("alter table raw_wb.fbs_stocks rename to fbs_stocks_kept")
    con.execute("create view raw_wb.fbs_stocks as select * from raw_wb.fbs_stocks_kept")
    con.close()
    first = sync(settings, which="wb")
    assert pending(settings, "wb") == [] and quarantined(settings, "wb")
    warnings = [w for w in first.results["wb"].record.warnings if "interrupted sync" in w]
    assert warnings and "set aside in" in warnings[0]
    con = duckdb.connect(str(settings.warehouse.path))
    con.execute("drop view raw_wb.fbs_stocks")
    con.execute("alter table raw_wb.fbs_stocks_kept rename to fbs_stocks")
    con.close()
    assert sync(settings, which="wb").clean
    assert_matches_truth(settings, sandbox, "wb")


# ---------------------------------------------------------------------- utf8mb4, long names
def _utf8mb3_database() -> str:
    import pymysql

    name = f"t_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"create database `{name}` character set utf8mb3")
    conn.close()
    return name


def _drop_databases(name: str) -> None:
    import pymysql

    conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD, autocommit=True)
    drop_databases(conn, name)
    conn.close()


@pytest.fixture
def utf8mb3_url(mysql_url) -> Any:
    """A database created with `character set utf8mb3` (the mysql_url fixture checks the server)."""
    name = _utf8mb3_database()
    auth = MYSQL_USER + (f":{MYSQL_PASSWORD}" if MYSQL_PASSWORD else "")
    url = f"mysql://{auth}@{MYSQL_HOST}:{MYSQL_PORT}/{name}"
    try:
        yield url
    finally:
        _drop_databases(name)
        # and its dlt and dbt folders (under data/, named after the database): a random name's
        # would pile up there, one pair a run
        target = settings_for({}, url).warehouse
        remove([target.work_dir("dlt"), target.work_dir("dbt")])


LONG_NAME = "Кот в сапогах 😺 " + "очень длинное название " * 30  # > 500 characters, an emoji


@pytest.mark.mysql
def test_a_utf8mb3_database_stores_emoji_and_long_names_whole(sandbox, utf8mb3_url) -> None:
    settings = settings_of(sandbox, utf8mb3_url)
    assert len(LONG_NAME) > 600
    sandbox.add_fault(Fault(kind="bad_value", path="/content/v2/get/cards/list", field="title", value=LONG_NAME,
                            count=None))
    result = sync(settings, which="wb")
    assert result.clean, result.summary()
    wh = warehouse_for(settings.warehouse)
    names = {r["product_name"] for r in wh.query("select distinct product_name from inventory_data")}
    assert LONG_NAME in names
    charsets = wh.query(
        "select table_schema, table_name, table_collation from information_schema.tables "
        "where table_schema like %s and table_type = 'BASE TABLE'", (wh.schema + "%",))
    assert charsets and all(str(r["table_collation"]).startswith("utf8mb4") for r in charsets), \
        [r for r in charsets if not str(r["table_collation"]).startswith("utf8mb4")]
    sandbox.clear_faults()
    assert sync(settings, which="wb").clean
    assert_matches_truth(settings, sandbox, "wb")


@pytest.mark.mysql
def test_an_emoji_a_utf8mb3_raw_table_refuses_is_quarantined_and_the_next_sync_is_clean(sandbox, mysql_url) -> None:
    """Raw datasets an older version created in utf8mb3: the emoji cannot load; the package is
    set aside, the sync fails in one line, and the next sync (no emoji) succeeds."""
    import pymysql

    database = mysql_url.rsplit("/", 1)[1]
    settings = settings_of(sandbox, mysql_url)
    conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"create database `{database}_raw_wb` character set utf8mb3")
    conn.close()
    sandbox.add_fault(Fault(kind="bad_value", path="/content/v2/get/cards/list", field="title", value="Кот 😺", count=1))
    bad = sync(settings, which="wb")
    result = bad.results["wb"]
    assert result.status == "failed", bad.summary()
    assert "set aside in" in result.message and "\n" not in result.message and "Traceback" not in result.message
    assert pending(settings, "wb") == [] and quarantined(settings, "wb")
    good = sync(settings, which="wb")
    assert good.clean, good.summary()
    assert_matches_truth(settings, sandbox, "wb")


# ---------------------------------------------------------------------- settings
def test_a_duckdb_path_under_a_file_is_a_configuration_error_naming_the_setting(tmp_path) -> None:
    from pipelines.config import ConfigError, load_settings

    (tmp_path / "not-a-folder").write_text("x")
    for url in (f"duckdb:///{tmp_path}/not-a-folder/inventory.duckdb", f"duckdb:///{tmp_path}/not-a-folder/a/b.duckdb"):
        with pytest.raises(ConfigError, match="WAREHOUSE_URL: .*not-a-folder is a file, not a folder"):
            load_settings({"WAREHOUSE_URL": url})
    with pytest.raises(ConfigError, match="WAREHOUSE_URL: .* is a folder"):
        load_settings({"WAREHOUSE_URL": f"duckdb:///{tmp_path}"})


def test_a_key_pasted_into_ozon_client_id_is_never_echoed() -> None:
    from pipelines.config import ConfigError, load_settings

    pasted = "9f0c1d2e-3b4a-5c6d-7e8f-90a1b2c3d4e5"
    with pytest.raises(ConfigError) as caught:
        load_settings({"OZON_CLIENT_ID": pasted, "OZON_API_KEY": "another-key"})
    assert pasted not in str(caught.value) and "another-key" not in str(caught.value)
    assert "OZON_CLIENT_ID must be the numeric Client-Id" in str(caught.value)
