"""Yandex Market end to end: the client meets the sandbox (built from the same reference by
someone who never read the client) and publishes exactly the account's truth, beside Ozon and WB.

The shared end-to-end tests sync Ozon and WB only (`TEST_MARKETPLACES`); these are the third
marketplace's own, and they sync all three, as an installation with every credential does.
Each unverified fact of docs/api/yandex_market.md §5 is played both ways across the two
warehouses (the sandbox's `ym_*` options), since the client must work with either answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.marketplaces import NAMES
from pipelines.sandbox import YM_REVOKED_API_KEY, Fault, Sandbox, SandboxOptions
from pipelines.sync import run_sync
from pipelines.warehouse import warehouse_for
from tests.conftest import settings_for

KEY = ("marketplace", "sku", "warehouse_id", "stock_type")
QUANTITIES = ("quantity_present", "quantity_reserved", "quantity_available")
STOCKS = "/v2/campaigns/{campaignId}/offers/stocks"


def published(settings: Any) -> dict[tuple, dict[str, Any]]:
    rows = warehouse_for(settings.warehouse).query("select * from inventory_data")
    return {tuple(str(r[k]) for k in KEY): r for r in rows}


def assert_exact(settings: Any, sb: Sandbox) -> dict[tuple, dict[str, Any]]:
    """Every marketplace's published rows equal the sandbox's truth: the same keys, quantities,
    warehouse names and product ids (rows the truth no longer has may only be zero)."""
    got = published(settings)
    for marketplace in NAMES:
        want = {tuple(str(r[k]) for k in KEY): r for r in sb.account.expected_inventory(marketplace)}
        mine = {k: v for k, v in got.items() if k[0] == marketplace}
        assert want, f"the sandbox has no {marketplace} stock"
        assert set(want) <= set(mine), (marketplace, sorted(set(want) - set(mine))[:3])
        for key, row in want.items():
            assert tuple(int(mine[key][q]) for q in QUANTITIES) == tuple(row[q] for q in QUANTITIES), (key, mine[key], row)
            assert mine[key]["warehouse_name"] == row["warehouse_name"], key
            assert str(mine[key]["marketplace_product_id"] or "") == str(row["marketplace_product_id"] or ""), key
        assert all(int(mine[k]["quantity_present"]) == 0 for k in set(mine) - set(want)), marketplace
    return got


def sync(settings: Any, **kwargs: Any) -> Any:
    return run_sync(settings, backoff_base=0.01, **kwargs)


@pytest.fixture
def three() -> Any:
    with Sandbox(SandboxOptions(products=120, seed=7, rate_limit_scale=0.01)) as sb:
        yield sb


def test_three_marketplaces_publish_exact_totals_through_rate_limits_and_a_revoked_key(three: Sandbox,
                                                                                     duckdb_url: str) -> None:
    settings = settings_for(three.env(), duckdb_url, marketplaces=NAMES)
    # Yandex's rate-limit answer is 420 with X-RateLimit-Resource-Until; a 503 is retried.
    three.add_fault(Fault("rate_limit", path=STOCKS, count=1, retry_after=1))
    three.add_fault(Fault("server_error", path="/v2/campaigns", count=1, status=503))
    result = sync(settings, full=True)
    assert result.ok, result.summary()
    ym = result.results["ym"]
    assert ym.record.retries >= 2 and ym.record.details["rate_limited"] >= 1
    assert [status for _, path, status in three.request_log if path.endswith("/offers/stocks")].count(420) == 1
    # The inactive campaign is skipped with its reason; nothing of it is in the truth either.
    assert any("DISABLED_BY_INACTIVITY" in w for w in ym.record.warnings), ym.record.warnings
    before = assert_exact(settings, three)
    assert {k[3] for k in before if k[0] == "ym"} >= {"FBY", "FBS", "EXPRESS", "DBS"}

    # Time moves; the next sync follows exactly.
    three.tick()
    assert sync(settings).ok
    moved = assert_exact(settings, three)
    assert any(before[k]["quantity_present"] != moved[k]["quantity_present"] for k in before if k[0] == "ym")

    # A revoked key fails Yandex Market alone, says so without the key, and changes none of its rows.
    three.tick()
    revoked = settings_for({**three.env(), "YM_API_KEY": YM_REVOKED_API_KEY}, duckdb_url, marketplaces=NAMES)
    result = sync(revoked)
    ym = result.results["ym"]
    assert ym.status == "failed" and "401" in ym.message and YM_REVOKED_API_KEY not in ym.message, ym.message
    assert {n: r.status for n, r in result.results.items() if n != "ym"} == {"ozon": "success", "wb": "success"}
    after = published(settings)
    assert {k: v for k, v in after.items() if k[0] == "ym"} == {k: v for k, v in moved.items() if k[0] == "ym"}


def test_the_other_readings_of_the_unverified_answers_sync_exactly_on_mariadb(mysql_url: str) -> None:
    """FBS/DBS/Express rows with every stock type (not FIT alone), `limit` counting warehouses
    (not offers), and an empty page that still carries a page token: yandex_market.md §5."""
    options = SandboxOptions(products=120, seed=7, rate_limit_scale=0.01, ym_seller_stock_types="full",
                             ym_stocks_limit_counts="warehouses", ym_empty_page_with_token=True)
    with Sandbox(options) as sb:
        settings = settings_for(sb.env(), mysql_url, marketplaces=NAMES)
        result = sync(settings, full=True)
        assert result.ok, result.summary()
        assert_exact(settings, sb)
