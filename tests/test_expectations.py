"""Write–audit–publish: Great Expectations checks guard what reaches inventory_data."""

from __future__ import annotations

import json

import pytest

from pipelines import sync_log
from pipelines.publish import publish
from pipelines.runner import run_sync
from pipelines.warehouse import warehouse_for
from tests.conftest import settings_for

KEY = ("marketplace", "sku", "warehouse_id", "stock_type")


def inventory(settings) -> dict[tuple, dict]:
    return {tuple(r[k] for k in KEY): r for r in warehouse_for(settings.warehouse).query("select * from inventory_data")}


def results_of(settings, run_id: str, marketplace: str) -> list[dict]:
    return warehouse_for(settings.warehouse).query(
        "select * from validation_results where run_id = %s and marketplace = %s", (run_id, marketplace)
    )


def sync(settings, **kwargs):
    return run_sync(settings, backoff_base=0.01, after_landing=kwargs.pop("after_landing", publish), **kwargs)


@pytest.fixture
def synced(sandbox, duckdb_url):
    """A warehouse with one clean sync published: the previous good state."""
    settings = settings_for(sandbox.env(), duckdb_url)
    result = sync(settings)
    assert result.clean, result.summary()
    return settings


def test_clean_sync_passes_every_check_and_stores_results(sandbox, synced) -> None:
    sandbox.tick()
    result = sync(synced)
    assert result.clean, result.summary()
    for marketplace in ("ozon", "wb"):
        rows = results_of(synced, result.run_id, marketplace)
        suites = {r["suite"] for r in rows}
        assert {"inventory_validity", "inventory_anomalies"} <= suites
        assert rows and all(r["success"] for r in rows), [r for r in rows if not r["success"]]
    assert any(r["suite"] == "inventory_reconciliation" for r in results_of(synced, result.run_id, "ozon"))
    from expectations.audit import RESULTS_DIR

    assert json.loads((RESULTS_DIR / result.run_id / "ozon.json").read_text())


def test_negative_stock_is_rejected_and_logged(sandbox, synced) -> None:
    from pipelines.sandbox import Fault

    before = inventory(synced)
    sandbox.add_fault(Fault(kind="negative_stock", path="/v1/product/info/warehouse/stocks", count=1))  # one row
    result = sync(synced, which="ozon")
    ozon = result.results["ozon"]
    assert ozon.status == "partial", result.summary()
    rec = sync_log.latest(warehouse_for(synced.warehouse), "ozon")
    assert rec["records_rejected"] == 1 and "rejected" in rec["warnings"]
    failed = [r for r in results_of(synced, result.run_id, "ozon") if not r["success"]]
    assert any(r["column_name"] == "quantity_present" and "-5" in r["unexpected_values"] for r in failed)
    after = inventory(synced)
    assert all(int(r["quantity_present"]) >= 0 for r in after.values())
    # The rejected row keeps its previous good value; it is neither clamped nor zeroed.
    wh = warehouse_for(synced.warehouse)
    bad = wh.query("select sku, warehouse_id, stock_type from int_inventory__snapshot where rejection_reason is not null")
    assert len(bad) == 1
    key = ("ozon", bad[0]["sku"], bad[0]["warehouse_id"], bad[0]["stock_type"])
    assert after[key]["quantity_present"] == before[key]["quantity_present"]


def test_empty_account_does_not_wipe_inventory_and_is_critical(sandbox, synced) -> None:
    from pipelines.sandbox import Fault

    before = inventory(synced)
    sandbox.add_fault(Fault(kind="empty_account", count=None))
    result = sync(synced, which="ozon")
    ozon = result.results["ozon"]
    assert ozon.status == "failed" and not result.ok
    rec = sync_log.latest(warehouse_for(synced.warehouse), "ozon")
    assert rec["status"] == "failed" and "publish blocked by critical checks" in rec["error_message"]
    assert inventory(synced) == before
    critical = [r for r in results_of(synced, result.run_id, "ozon") if not r["success"] and r["severity"] == "critical"]
    assert critical


def test_override_publishes_anyway_and_records_who_and_why(sandbox, synced) -> None:
    import functools

    from pipelines.sandbox import Fault

    sandbox.add_fault(Fault(kind="empty_account", path="/v1/product/info/warehouse/stocks", count=None))
    after_landing = functools.partial(publish, override="alice: FBS warehouses closed for inventory")
    result = sync(synced, which="ozon", after_landing=after_landing)
    assert result.results["ozon"].status == "partial", result.summary()
    rec = sync_log.latest(warehouse_for(synced.warehouse), "ozon")
    assert "alice: FBS warehouses closed for inventory" in rec["warnings"]
    assert json.loads(rec["details"])["override"] == "alice: FBS warehouses closed for inventory"
    fbs = [r for k, r in inventory(synced).items() if k[0] == "ozon" and k[3] in ("FBS", "realFBS")]
    assert fbs and all(int(r["quantity_present"]) == 0 for r in fbs)


def test_a_sixty_percent_drop_in_one_warehouse_raises_the_anomaly(sandbox, synced) -> None:
    changed = sandbox.account.scale_warehouse("wb", "Коледино", 0.4)
    assert changed > 0
    result = sync(synced, which="wb")
    wb = result.results["wb"]
    assert wb.status == "partial", result.summary()  # published, with the anomaly recorded
    rec = sync_log.latest(warehouse_for(synced.warehouse), "wb")
    assert "inventory_warehouse_anomalies" in rec["warnings"] and "Коледино" in rec["warnings"]
    failed = [r for r in results_of(synced, result.run_id, "wb") if not r["success"]]
    assert [r["suite"] for r in failed] == ["inventory_warehouse_anomalies"]
    assert failed[0]["unexpected_count"] == 1
    # Other warehouses moved less than the threshold and passed.
    assert "Подольск" not in rec["warnings"]
