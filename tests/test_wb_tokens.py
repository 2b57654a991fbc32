"""Every WB token type syncs (issue 22): the token's claims choose the method plan and pacing.

Each rule at the lowest level that proves it: claims and plans as functions; pacing, expected
and unexpected 429s through the WB client over HTTP against the sandbox (which enforces the
Basic limits per token type); one end-to-end publishing sync for a Basic token; a landing for
a token without Аналитика.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from pipelines.marketplaces.wb import source as wildberries
from pipelines.api_client import RateLimitTooLong, SyncStats
from pipelines.sandbox import WB_API_TOKEN, WB_BASIC_TOKEN, Fault, Sandbox, SandboxOptions, wb_token
from pipelines.status import run_status
from pipelines.sync import run_sync
from pipelines.marketplaces.wb.token import MissingCategory, WbTokenInfo, read_token
from tests.conftest import settings_for
from tests.test_landing import assert_wb_fbo_totals_per_size

ALL = frozenset({"Контент", "Аналитика", "Маркетплейс", "Статистика"})
SCALE = "0.001"  # Basic remains interval 900 s -> 0.9 s
STATUS = "/api/v1/warehouse_remains/tasks/{taskId}/status"
REMAINS_PATHS = ("/api/v1/warehouse_remains", STATUS, "/api/v1/warehouse_remains/tasks/{taskId}/download")
BASIC_LINE = ("WB token: Basic; categories Аналитика, Контент, Маркетплейс, Статистика; "
              "FBO from the remains report (4 calls/hour per method)")


@pytest.fixture
def slow_limits():
    """A sandbox whose limits are scaled to 0.001: a Basic token's 15 minutes are 0.9 s."""
    with Sandbox(SandboxOptions(products=40, seed=5, rate_limit_scale=float(SCALE))) as sb:
        yield sb


def _jwt(claims: dict) -> str:
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJFUzI1NiJ9.{part}.c2ln"


# ---------------------------------------------------------------------- claims and plans
def test_claims_are_decoded_without_verifying_and_unreadable_ones_are_unknown() -> None:
    assert read_token(WB_BASIC_TOKEN) == WbTokenInfo("Basic", ALL)
    assert read_token(WB_API_TOKEN) == WbTokenInfo("Personal", ALL)
    assert read_token(_jwt({"acc": 4, "s": (1 << 2) | (1 << 30)})) == WbTokenInfo("Service", frozenset({"Аналитика"}), True)
    assert read_token(_jwt({"acc": 3, "s": 0, "t": True})).kind == "Test"
    assert read_token(_jwt({"acc": 9})) == WbTokenInfo(None, None)
    for garbage in ("", "opaque-token", "a.b.c", "a.!!!.c", _jwt([1, 2]), "x." + "\u00e9" + ".y"):
        assert read_token(garbage) == WbTokenInfo(None, None), garbage


def test_the_plan_follows_type_and_categories_and_its_line_never_holds_the_token() -> None:
    basic = wildberries.plan_for(read_token(WB_BASIC_TOKEN))
    assert (basic.stocks_report, basic.basic_limits, basic.describe) == (False, True, BASIC_LINE)
    assert WB_BASIC_TOKEN not in basic.describe
    personal = wildberries.plan_for(read_token(WB_API_TOKEN))
    assert (personal.stocks_report, personal.basic_limits) == (True, False)
    unknown = wildberries.plan_for(read_token("opaque"))
    assert (unknown.stocks_report, unknown.basic_limits) == (True, True)  # right under either answer
    assert "type unknown" in unknown.describe
    lacking = read_token(wb_token("Personal", {"Контент", "Маркетплейс"}))
    assert "lacks category Аналитика" in wildberries.plan_for(lacking).describe
    with pytest.raises(MissingCategory, match=r"^Wildberries FBO stock: the WB token has no category Аналитика; "
                                              r"add Аналитика to the token in the seller's profile"):
        lacking.require("Аналитика", "FBO stock")


# ---------------------------------------------------------------------- the client over HTTP
def _api(sb: Sandbox, token: str, **extra: str) -> tuple[wildberries.WildberriesApi, SyncStats]:
    settings = settings_for({**sb.env(), "WB_API_TOKEN": token}, "duckdb:///unused.duckdb",
                            INVSYNC_RATE_LIMIT_SCALE=SCALE, **extra)
    plan = wildberries.plan_for(read_token(token))
    stats = SyncStats()
    client = wildberries.make_client(settings, stats, backoff_base=0.01, method_plan=plan)
    return wildberries.WildberriesApi(client, settings, basic_limits=plan.basic_limits), stats


def test_a_basic_token_reads_the_remains_report_in_planned_waits_without_a_429(slow_limits, caplog) -> None:
    api, stats = _api(slow_limits, WB_BASIC_TOKEN)
    started = time.monotonic()
    assert api.warehouse_remains()
    # create -> status -> download, one each: the status came late enough to find the task done.
    by_endpoint = stats.as_dict()["by_endpoint"]
    assert [by_endpoint[p.replace("{taskId}", "{task_id}")] for p in REMAINS_PATHS] == [1, 1, 1]
    assert not any(s == 429 for _, _, s in slow_limits.request_log)
    planned = [r.getMessage() for r in caplog.records if "planned (Basic token: remains report 4 calls/hour" in r.getMessage()]
    assert len(planned) == 2, planned  # before the status call and before the download
    assert time.monotonic() - started >= 2 * 0.9 * 0.9  # the two planned waits were slept (scaled 900 s)


def test_a_429_the_basic_limits_explain_is_waited_out_above_the_cap(slow_limits) -> None:
    # Cap 0.2 s; the server asks 0.5 s on the status call, within the token's (scaled) 0.9 s.
    slow_limits.add_fault(Fault(kind="rate_limit", path=STATUS, retry_after=0.5, count=1))
    api, stats = _api(slow_limits, WB_BASIC_TOKEN, INVSYNC_MAX_SERVER_WAIT="0.2")
    assert api.warehouse_remains()
    assert stats.waits == [0.5] and stats.rate_limited == 1


def test_a_second_explained_wait_in_one_call_fails_at_once(slow_limits) -> None:
    """The limits explain one long wait per call; a second means they are not what we think."""
    slow_limits.add_fault(Fault(kind="rate_limit", path=STATUS, retry_after=0.5, count=None))
    api, stats = _api(slow_limits, WB_BASIC_TOKEN, INVSYNC_MAX_SERVER_WAIT="0.2")
    with pytest.raises(RateLimitTooLong, match=r"rate limited for 0.5 s \(more than INVSYNC_MAX_SERVER_WAIT=0.2 s\)"):
        api.warehouse_remains()
    assert stats.waits == [0.5] and stats.requests == 3  # create, status (429: waited), status (429: refused)


@pytest.mark.parametrize("token, retry_after", [
    (WB_BASIC_TOKEN, 3600),  # beyond what a Basic token's limits explain
    (WB_API_TOKEN, 0.5),  # a Personal token's limits explain no wait above the cap
])
def test_a_wait_the_token_limits_do_not_explain_still_fails_at_once(slow_limits, token, retry_after) -> None:
    slow_limits.add_fault(Fault(kind="rate_limit", path=STATUS, retry_after=retry_after, count=None))
    api, stats = _api(slow_limits, token, INVSYNC_MAX_SERVER_WAIT="0.2")
    with pytest.raises(RateLimitTooLong, match=rf"rate limited for {retry_after} s \(more than INVSYNC_MAX_SERVER_WAIT=0.2 s\)"):
        api.warehouse_remains()
    assert stats.waits == [] and stats.retries == 0  # nothing slept


# ---------------------------------------------------------------------- syncs
def test_a_token_without_analytics_fails_naming_the_category_before_any_analytics_call(sandbox, duckdb_url) -> None:
    token = wb_token("Personal", {"Контент", "Маркетплейс"})
    settings = settings_for({**sandbox.env(), "WB_API_TOKEN": token}, duckdb_url)
    result = run_sync(settings, which="wb", publish=False, backoff_base=0.01)
    wb = result.results["wb"]
    assert wb.status == "failed"
    assert wb.message.startswith("Wildberries FBO stock (WB warehouses): the WB token has no category Аналитика; "
                                 "add Аналитика to the token in the seller's profile"), wb.message
    assert token not in wb.message
    assert not any(p.startswith(("/api/analytics", "/api/v1/warehouse_remains")) for _, p, _ in sandbox.request_log)
    assert "lacks category Аналитика" in wb.record.details["counts"]["credentials"]


def test_a_basic_token_sync_publishes_exact_per_size_totals_and_status_shows_the_plan(slow_limits, duckdb_url, capsys) -> None:
    settings = settings_for({**slow_limits.env(), "WB_API_TOKEN": WB_BASIC_TOKEN}, duckdb_url,
                            INVSYNC_RATE_LIMIT_SCALE=SCALE)
    result = run_sync(settings, which="wb", backoff_base=0.01)
    wb = result.results["wb"]
    assert wb.status == "success", result.summary()  # no warning: nothing fell back, nothing was refused
    assert wb.counts["fbo_method"] == "warehouse_remains" and wb.counts["credentials"] == BASIC_LINE
    assert slow_limits.request_log.hits(path=wildberries.STOCKS_REPORT_WB) == 0
    assert not any(s in (403, 429) for _, _, s in slow_limits.request_log)
    assert_wb_fbo_totals_per_size(settings, slow_limits)
    run_status(settings)
    assert f"      {BASIC_LINE}\n" in capsys.readouterr().out
