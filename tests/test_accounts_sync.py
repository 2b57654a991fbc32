"""Several seller accounts in one warehouse (issue 24), end to end over the sandbox's HTTP:
two Ozon and two WB accounts sync exactly, each into its own raw dataset and `sync_logs` row,
and each stands alone: a revoked key or a broken load of one account never blocks or changes
another's published stock. On DuckDB and MariaDB.

The dbt side (several accounts in one build) is tested at its own level in test_dbt_accounts.py.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from pipelines.sandbox import Fault, Sandbox, SandboxOptions
from pipelines.status import read_status
from pipelines.sync import run_sync
from pipelines.warehouse import warehouse_for
from tests.conftest import TEST_MARKETPLACES, settings_for

pytestmark = pytest.mark.timeout(900)

# Our two extra accounts; both are the sandbox's seller "north" (one cabinet on each marketplace).
ACCOUNTS_FILE = """
[[account]]
id = "north"
marketplace = "ozon"
label = "North LLC"
env = { OZON_CLIENT_ID = "NORTH_OZON_CLIENT_ID", OZON_API_KEY = "NORTH_OZON_API_KEY" }

[[account]]
id = "north_wb"
marketplace = "wb"
label = "North LLC on WB"
env = { WB_API_TOKEN = "NORTH_WB_API_TOKEN" }
"""
# (marketplace, our account id) -> the sandbox's account that serves it
SERVED_BY = {("ozon", "default"): "default", ("wb", "default"): "default",
             ("ozon", "north"): "north", ("wb", "north_wb"): "north"}
KEY = ("sku", "warehouse_id", "stock_type")


@pytest.fixture
def north_sandbox() -> Iterator[Sandbox]:
    options = SandboxOptions(products=40, seed=23, rate_limit_scale=0.01, env_marketplaces=TEST_MARKETPLACES,
                             accounts=("north",), account_products={"north": 30})
    with Sandbox(options) as sb:
        yield sb


def account_settings(sandbox: Sandbox, url: str, tmp_path: Any) -> Any:
    path = tmp_path / "accounts.toml"
    path.write_text(ACCOUNTS_FILE, encoding="utf-8")
    north = sandbox.env("north")
    return settings_for(sandbox.env(), url, INVSYNC_ACCOUNTS_FILE=str(path),
                        NORTH_OZON_CLIENT_ID=north["OZON_CLIENT_ID"], NORTH_OZON_API_KEY=north["OZON_API_KEY"],
                        NORTH_WB_API_TOKEN=north["WB_API_TOKEN"])


def published(settings: Any) -> dict[tuple[str, str], dict[tuple, tuple[int, int]]]:
    """inventory_data per (marketplace, account): key -> (present, reserved)."""
    out: dict[tuple[str, str], dict[tuple, tuple[int, int]]] = {}
    for r in warehouse_for(settings.warehouse).query("select * from inventory_data"):
        out.setdefault((r["marketplace"], r["account"]), {})[tuple(r[k] for k in KEY)] = (
            int(r["quantity_present"]), int(r["quantity_reserved"]))
    return out


def truth(sandbox: Sandbox, marketplace: str, account: str) -> dict[tuple, tuple[int, int]]:
    rows = sandbox.cabinet(SERVED_BY[(marketplace, account)]).account.expected_inventory(marketplace)
    return {tuple(r[k] for k in KEY): (r["quantity_present"], r["quantity_reserved"]) for r in rows}


def assert_exact(got: dict[tuple, tuple[int, int]], want: dict[tuple, tuple[int, int]], who: tuple[str, str]) -> None:
    """Every key of the truth with its quantities; any other key only as a zeroed one."""
    assert want, who
    assert {k: got.get(k) for k in want} == want, who
    assert all(v == (0, 0) for k, v in got.items() if k not in want), who


@pytest.mark.parametrize("warehouse", ["duckdb", "mysql"])
def test_two_ozon_and_two_wb_accounts_sync_exactly_and_each_stands_alone(north_sandbox: Sandbox, warehouse: str,
                                                                          request: Any, tmp_path: Any) -> None:
    url = request.getfixturevalue("duckdb_url" if warehouse == "duckdb" else "mysql_url")
    settings = account_settings(north_sandbox, url, tmp_path)

    first = run_sync(settings, full=True)
    assert {k: str(r.status) for k, r in first.results.items() if r.record} == {
        "ozon": "success", "wb": "success", "ozon/north": "success", "wb/north_wb": "success"}, first.summary()
    stock = published(settings)
    assert set(stock) == set(SERVED_BY)
    for who in SERVED_BY:
        assert_exact(stock[who], truth(north_sandbox, *who), who)
    # The two sellers' catalogues differ, so an account's rows are its own, not a copy.
    assert stock[("ozon", "default")] != stock[("ozon", "north")]
    rows = warehouse_for(settings.warehouse).query("select marketplace, account, load_id, status from sync_logs "
                                                   "where run_id = %s", (first.run_id,))
    assert {(r["marketplace"], r["account"]) for r in rows} == set(SERVED_BY)
    assert len({r["load_id"] for r in rows}) == 4  # each account its own load

    # North's WB key is revoked: its sync fails, the other three publish the moved stock, and
    # north's WB stock stays exactly as it was published.
    north_sandbox.revoke("north", "wb")
    north_sandbox.tick()
    second = run_sync(settings)
    statuses = {k: str(r.status) for k, r in second.results.items() if r.record}
    assert statuses == {"ozon": "success", "wb": "success", "ozon/north": "success", "wb/north_wb": "failed"}
    assert "wb/north_wb" in second.summary()
    after = published(settings)
    assert after[("wb", "north_wb")] == stock[("wb", "north_wb")]
    for who in set(SERVED_BY) - {("wb", "north_wb")}:
        assert_exact(after[who], truth(north_sandbox, *who), who)
    assert after[("ozon", "north")] != stock[("ozon", "north")]  # the tick moved it: this sync did publish

    # Status: one record per account, north's WB the one that failed.
    records = {s.name: s for s in read_status(warehouse_for(settings.warehouse), settings) if s.relevant}
    assert set(records) == {"ozon", "wb", "ozon/north", "wb/north_wb"}
    assert records["wb/north_wb"].last_attempt_status == "failed" and records["wb/north_wb"].last_error
    assert records["ozon/north"].last_attempt_status == "success"
    assert records["ozon/north"].units_present == sum(p for p, _ in truth(north_sandbox, "ozon", "north").values())


def test_a_broken_load_of_one_account_fails_its_staging_alone(north_sandbox: Sandbox, duckdb_url: str,
                                                              tmp_path: Any) -> None:
    settings = account_settings(north_sandbox, duckdb_url, tmp_path)
    assert run_sync(settings, which="ozon", full=True).clean
    before = published(settings)
    # North's Ozon answers lack product ids: `not_null` on stg_ozon__stocks fails for its load only.
    north_sandbox.add_fault(Fault(kind="missing_value", path="/v4/product/info/stocks", field="product_id",
                                  count=None, account="north"))
    north_sandbox.tick()
    result = run_sync(settings, which="ozon", accounts=["default", "north"])
    north, default = result.results["ozon/north"], result.results["ozon"]
    assert str(north.status) == "failed" and "dbt staging failed" in north.message
    assert "not_null_stg_ozon__stocks_marketplace_product_id" in north.message
    assert str(default.status) == "success", default.message
    after = published(settings)
    assert after[("ozon", "north")] == before[("ozon", "north")]
    assert_exact(after[("ozon", "default")], truth(north_sandbox, "ozon", "default"), ("ozon", "default"))
    assert after[("ozon", "default")] != before[("ozon", "default")]


def test_sync_account_selects_and_an_unknown_account_is_named(north_sandbox: Sandbox, duckdb_url: str,
                                                              tmp_path: Any) -> None:
    from pipelines.config import ConfigError

    settings = account_settings(north_sandbox, duckdb_url, tmp_path)
    only = run_sync(settings, accounts=["north_wb"], publish=False)
    assert set(only.synced) == {"wb/north_wb"}
    with pytest.raises(ConfigError, match=r"no account nowhere on ozon, wb, ym \(configured: .*ozon/north"):
        run_sync(settings, accounts=["nowhere"])
