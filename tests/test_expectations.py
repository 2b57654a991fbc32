"""Write–audit–publish: Great Expectations checks guard what reaches inventory_data."""

from __future__ import annotations

import json

import pytest

from pipelines import sync_log
from pipelines.sync import run_sync
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
    return run_sync(settings, backoff_base=0.01, **kwargs)


@pytest.fixture
def synced(published):
    """A warehouse with one clean sync published: the previous good state."""
    return published


def test_clean_sync_passes_every_check_and_stores_results(sandbox, synced) -> None:
    sandbox.tick()
    result = sync(synced)
    assert result.clean, result.summary()
    for marketplace in ("ozon", "wb"):
        rows = results_of(synced, result.run_id, marketplace)
        suites = {r["suite"] for r in rows}
        assert {"inventory_validity", "inventory_broken_answers", "inventory_moves"} <= suites
        assert rows and all(r["success"] for r in rows), [r for r in rows if not r["success"]]
        # Each bounded check says where its range came from (two syncs: no history yet).
        moves = [json.loads(r["details"]) for r in rows if r["suite"] == "inventory_moves"]
        assert moves and all("default ±50%" in d["range_source"] and d["kind"] == "unusual move" for d in moves)
    ozon = results_of(synced, result.run_id, "ozon")
    assert any(r["suite"] == "inventory_broken_answers" and "total_items" in json.loads(r["details"])["range_source"]
               for r in ozon)
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
    # The held-back load is withdrawn from the approval: a data person's hand-run build of the
    # mart alone (INVSYNC_PUBLISH_LOADS unset) does not merge the blocked snapshot either.
    from pipelines.sync.dbt import run_dbt

    run_dbt(synced, ["build", "--select", "inventory_data"])
    assert inventory(synced) == before


def test_override_publishes_anyway_and_records_who_and_why(sandbox, synced) -> None:
    from pipelines.sandbox import Fault

    sandbox.add_fault(Fault(kind="empty_account", count=None))
    result = sync(synced, which="ozon", override="alice: shop closed for inventory")
    assert result.results["ozon"].status == "partial", result.summary()
    rec = sync_log.latest(warehouse_for(synced.warehouse), "ozon")
    assert "critical checks overridden by operator alice: shop closed for inventory" in rec["warnings"]
    assert "broken answer" in rec["warnings"]  # what was overridden is on record too
    assert json.loads(rec["details"])["override"] == "alice: shop closed for inventory"
    ozon = [r for k, r in inventory(synced).items() if k[0] == "ozon"]
    assert ozon and all(int(r["quantity_present"]) == 0 for r in ozon)


def test_a_sixty_percent_drop_in_one_warehouse_raises_the_anomaly(sandbox, synced) -> None:
    changed = sandbox.account.scale_warehouse("wb", "Коледино", 0.4)
    assert changed > 0
    result = sync(synced, which="wb")
    wb = result.results["wb"]
    assert wb.status == "partial", result.summary()  # published, with the anomaly recorded
    rec = sync_log.latest(warehouse_for(synced.warehouse), "wb")
    assert "unusual move: inventory_warehouse_moves" in rec["warnings"] and "Коледино" in rec["warnings"]
    failed = [r for r in results_of(synced, result.run_id, "wb") if not r["success"]]
    assert [r["suite"] for r in failed] == ["inventory_warehouse_moves"]
    assert failed[0]["unexpected_count"] == 1
    # Other warehouses moved less than the threshold and passed.
    assert "Подольск" not in rec["warnings"]


# ---------------------------------------------------------------------- broken answers vs unusual moves
def ozon_units(settings) -> int:
    rows = warehouse_for(settings.warehouse).query(
        "select coalesce(sum(quantity_present), 0) as n from inventory_data where marketplace = 'ozon'")
    return int(rows[0]["n"])


def scale_ozon(sandbox, factor: float) -> None:
    """Every Ozon unit times `factor` (present and reserved alike), as one sudden move."""
    acc = sandbox.account
    with acc.lock:
        for present, reserved in ((acc.fbo_pr, acc.fbo_res), (acc.fbs_pr, acc.fbs_res)):
            for s in range(len(present)):
                present[s] = int(present[s] * factor)
                reserved[s] = min(present[s], int(reserved[s] * factor))
        acc.changed()


def test_a_small_accounts_best_seller_selling_out_publishes_with_a_warning(duckdb_url) -> None:
    from pipelines.sandbox import Sandbox, SandboxOptions
    from pipelines.sandbox.account import N_OZ_FBO, N_OZ_SELLER

    with Sandbox(SandboxOptions(products=5, seed=3, rate_limit_scale=0.01)) as sandbox:
        acc = sandbox.account
        with acc.lock:  # one item holds about two thirds of the account's Ozon units
            best = max(range(acc.n_products), key=lambda i: 0 if acc.archived[i] else acc.ozon_present(i))
            rest = sum(acc.ozon_present(i) for i in range(acc.n_products)) - acc.ozon_present(best)
            slot = next(best * N_OZ_FBO + w for w in range(N_OZ_FBO) if acc.fbo_on[best * N_OZ_FBO + w])
            acc.fbo_pr[slot] += max(0, 2 * rest - acc.ozon_present(best))
            acc.changed()
        settings = settings_for(sandbox.env(), duckdb_url)
        assert sync(settings).clean
        before = ozon_units(settings)
        with acc.lock:  # ... and sells out everywhere, and one WB size goes to zero
            for s in range(best * N_OZ_FBO, (best + 1) * N_OZ_FBO):
                acc.fbo_pr[s] = acc.fbo_res[s] = 0
            for s in range(best * N_OZ_SELLER, (best + 1) * N_OZ_SELLER):
                acc.fbs_pr[s] = acc.fbs_res[s] = 0
            for s in range(len(acc.wb_q)):
                if acc.wb_q[s]:
                    acc.wb_q[s] = acc.wb_to[s] = acc.wb_from[s] = 0
                    break
            acc.changed()
        drop = before - sum(acc.ozon_present(i) for i in range(acc.n_products))
        assert drop > before / 2 and drop < settings.checks.critical_drop_units  # the scenario of the issue
        result = sync(settings)
        assert result.ok, result.summary()
        ozon = result.results["ozon"]
        assert ozon.status == "partial"  # published, and said
        assert any(w.startswith("unusual move: inventory_moves") and "quantity_present" in w for w in ozon.record.warnings)
        assert ozon_units(settings) == before - drop
        assert result.results["wb"].status in ("success", "partial")


def test_a_large_sudden_unit_drop_is_held_back(sandbox, synced) -> None:
    before = inventory(synced)
    units = ozon_units(synced)
    scale_ozon(sandbox, 0.4)  # 60% of every unit gone within one sync
    assert units * 0.6 >= synced.checks.critical_drop_units
    result = sync(synced, which="ozon")
    ozon = result.results["ozon"]
    assert ozon.status == "failed" and "broken answer: inventory_broken_answers" in ozon.record.error_message
    assert "units collapsing" not in ozon.record.error_message or True
    assert "INVSYNC_CRITICAL_DROP_UNITS" in ozon.record.error_message  # the range says where it came from
    assert inventory(synced) == before


def test_a_catalog_listing_missing_half_the_products_is_held_back(sandbox, synced) -> None:
    before = inventory(synced)
    acc = sandbox.account
    with acc.lock:  # half of the products vanish from the v4 listing (stock or not)
        for i in range(0, acc.n_products, 2):
            acc.archived[i] = 1
        acc.changed()
    result = sync(synced, which="ozon")
    ozon = result.results["ozon"]
    assert ozon.status == "failed", result.summary()
    assert "INVSYNC_CATALOG_DROP_SHARE" in ozon.record.error_message
    assert inventory(synced) == before


def seed_history(settings, marketplace: str, factors: list[float]) -> None:
    """Published syncs before the real ones: the current totals scaled by `factors`, oldest first."""
    from datetime import datetime, timedelta, timezone

    from pipelines.sync_log import SyncRecord

    wh = warehouse_for(settings.warehouse)
    latest = json.loads(sync_log.latest(wh, marketplace)["details"])["audit"]["totals"]
    start = datetime.now(timezone.utc) - timedelta(days=30)
    for n, factor in enumerate(factors):
        rec = SyncRecord(run_id=f"history-{n}", marketplace=marketplace, sync_type="incremental",
                         started_at=start + timedelta(hours=6 * n))
        sync_log.insert(wh, rec)
        rec.details = {"audit": {"totals": {**latest, "units": latest["units"] * factor, "items": latest["items"] * factor}}}
        rec.finish("success")
        sync_log.update(wh, rec)


def test_after_a_volatile_history_a_move_of_the_usual_size_is_published(sandbox, synced) -> None:
    # This account swings by about 60% between syncs ...
    seed_history(synced, "ozon", [1.0, 0.4, 1.0, 0.4, 1.0, 0.45, 1.0, 0.4])
    scale_ozon(sandbox, 0.4)  # ... so one more swing of that size is not a broken answer.
    result = sync(synced, which="ozon")
    ozon = result.results["ozon"]
    assert ozon.status in ("success", "partial") and result.ok, result.summary()
    assert not any("inventory_broken_answers" in w for w in ozon.record.warnings)
    rows = [json.loads(r["details"]) for r in results_of(synced, result.run_id, "ozon") if r["suite"] == "inventory_moves"]
    assert rows and all("history of" in d["range_source"] for d in rows)


def test_after_a_calm_history_a_large_move_warns_but_publishes(sandbox, synced) -> None:
    seed_history(synced, "ozon", [1.0, 1.01, 0.99, 1.0, 1.02, 0.99, 1.0, 1.01])  # moves of about 1%
    scale_ozon(sandbox, 0.7)  # a 30% move: far from usual, not a collapse
    result = sync(synced, which="ozon")
    ozon = result.results["ozon"]
    assert ozon.status == "partial", result.summary()
    warning = next(w for w in ozon.record.warnings if w.startswith("unusual move: inventory_moves"))
    assert "history of" in warning and "band ±10.0%" in warning  # the floor, not the 1% spread


def test_every_marketplace_holds_its_answer_to_its_own_totals() -> None:
    from pipelines.marketplaces import MARKETPLACES

    for market in MARKETPLACES:
        assert market.answer_checks and all(callable(c) for c in market.answer_checks), market.name


def test_a_yandex_fit_that_is_not_available_plus_freeze_warns_on_its_row(tmp_path) -> None:
    """The audit's level: Yandex's check on a staged table, through the suite the audit builds."""
    import duckdb

    from expectations.audit import _describe, _Validator
    from expectations.suites import sums_suite
    from pipelines.config import CheckThresholds, load_settings
    from pipelines.marketplaces.ym.checks import fit_is_available_plus_freeze

    path = tmp_path / "staged.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table stg_ym__offer_stocks (account varchar, campaign_id varchar, warehouse_id varchar, "
                    "sku varchar, available_units bigint, fit_units bigint, freeze_units bigint, invalid_reason varchar)")
        con.execute("insert into stg_ym__offer_stocks values "
                    "('default', '1', '10', 'agrees', 7, 9, 2, null), ('default', '1', '10', 'fit-too-high', 5, 9, 2, null), "
                    "('default', '1', '10', 'no-freeze', 3, 5, null, null), ('default', '1', '20', 'fit-only', null, 4, null, null), "
                    "('default', '1', '10', 'rejected', 1, 9, 0, 'count: not a whole number'), "
                    # another account's row of the same campaign: read by its own account's check only
                    "('b', '1', '10', 'agrees', 1, 9, 2, null)")
    wh = warehouse_for(load_settings({"WAREHOUSE_URL": f"duckdb:///{path}"}).warehouse)

    totals = fit_is_available_plus_freeze(wh)
    assert totals is not None and not totals.critical  # inferred from the definitions: a warning
    assert {r.sku: (r.reported_fit, r.available_plus_freeze) for r in totals.frame.itertuples()} == {
        "agrees": (9, 9), "fit-too-high": (9, 7), "no-freeze": (5, 3)}  # FIT alone and rejected rows: not compared
    other = fit_is_available_plus_freeze(wh, "b")
    assert other is not None and {r.sku: r.available_plus_freeze for r in other.frame.itertuples()} == {"agrees": 3}
    validator = _Validator()  # GE's context first, as the audit does
    suite = sums_suite(list(totals.pairs), totals.critical, totals.description, CheckThresholds())
    [check] = _describe(validator.validate(totals.frame, suite, list(totals.index_columns)))
    assert (check["success"], check["severity"], check["unexpected_count"]) == (False, "warning", 2)
    assert {v["sku"] for v in check["unexpected_values"]} == {"fit-too-high", "no-freeze"}
