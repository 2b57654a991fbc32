"""dlt source for the Yandex Market Partner API: stock per campaign, warehouse and offer; names; catalog.

The stock plan (`docs/api/yandex_market.md` §1 and §7, which is binding), method by method:

| need | method | raw table |
| --- | --- | --- |
| campaigns of the token's business, their model and availability | `GET /v2/campaigns` (all pages) | `campaigns` |
| stock per warehouse × offer, every model | `POST /v2/campaigns/{campaignId}/offers/stocks` per available campaign, body `{}`, `limit=100`, all pages | `offer_stocks` |
| Market warehouse names (FBY, LaaS) | `GET /v2/warehouses` | `fby_warehouses` |
| seller warehouse names and the Express flag | `POST /v2/businesses/{businessId}/warehouses` per business, `limit=30` | `seller_warehouses` |
| offer names, barcodes, `marketSku` | `POST /v2/businesses/{businessId}/offer-mappings` per business, `limit=100` | `offers` |

A campaign whose `apiAvailability` is not `AVAILABLE`, or whose stock call answers 403 (a
campaign that is not active, §3.1), is skipped with a warning naming it: its stock is not read,
so it is not zeroed (`int_inventory__ym` keeps what was published for its warehouses). The
`campaigns` table, written when the stock is read, says which campaigns were read
(`stocks_read`) and why not (`skip_reason`). A campaign's rows are yielded only once all its
pages are read, so a campaign refused half-way never lands half a snapshot.

Quantities follow §7 (`offer_quantities`): the type counts land as they came (int64, checked
at the edge), with the derived `quantity_available` and `quantity_reserved`; staging adds them
up to present. Every stock resource is a complete snapshot (`replace`), as for Ozon and WB:
dlt loads only after the whole extraction succeeded. Yandex has no catalog cursor (§2.5):
every sync reads the whole catalog.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Iterator

import dlt
import pyarrow as pa
import requests

from pipelines.api_client import (
    RETRYABLE_STATUS,
    ApiClient,
    AuthError,
    EndpointGone,
    SyncStats,
    client_for,
    retry_after_seconds,
    seconds_until_header,
)
from pipelines.config import Settings
from pipelines.marketplaces.base import CatalogBase
from pipelines.marketplaces.ym import API_KEY, API_URL, YANDEX_MARKET
from pipelines.pages import INVALID_REASON, check_quantities, rows_to_table
from pipelines.progress import plan

log = logging.getLogger(__name__)

# Methods by template: the names of counters, progress, errors and answer shapes.
CAMPAIGNS = "/v2/campaigns"
STOCKS = "/v2/campaigns/{campaignId}/offers/stocks"
FBY_WAREHOUSES = "/v2/warehouses"
SELLER_WAREHOUSES = "/v2/businesses/{businessId}/warehouses"
OFFER_MAPPINGS = "/v2/businesses/{businessId}/offer-mappings"

# Page sizes: the maxima before and after the 4 Aug 2026 change (§1, §2.2.1, §2.4.2, §2.5).
CAMPAIGNS_LIMIT = 100
STOCKS_LIMIT = 100
SELLER_WAREHOUSES_LIMIT = 30
OFFER_MAPPINGS_LIMIT = 100
# §7: an empty page that still carries a nextPageToken is tolerated this many times in a row.
MAX_EMPTY_PAGES = 3
# §3.2: at most 4 parallel requests per campaign/business/token; §7: keep at most 2 in flight.
MAX_IN_FLIGHT = 2

# Minimum seconds between calls per method, at the published limits of tier `none` (§3.2),
# scaled by INVSYNC_RATE_LIMIT_SCALE. getStocks is limited in offers (100,000 a minute): at
# 100 offers a page that is 1,000 pages a minute. The hourly limits of the warehouse lists
# (100 an hour) mean 36 s between pages: a sync reads them once (§3.2 "read them once per sync").
PACING = {
    "campaigns": 3600 / 1000,
    "stocks": 60 / (100_000 / STOCKS_LIMIT),
    "fby_warehouses": 3600 / 100,
    "seller_warehouses": 3600 / 100,
    "offer_mappings": 60 / 100,
}
GROUPS = {CAMPAIGNS: "campaigns", STOCKS: "stocks", FBY_WAREHOUSES: "fby_warehouses",
          SELLER_WAREHOUSES: "seller_warehouses", OFFER_MAPPINGS: "offer_mappings"}

# §3.1: Yandex answers a rate limit with 420 (429 treated alike, §5.6); 423 (business in
# migration) is retried later like a 5xx.
RATE_LIMIT_STATUS = frozenset({420, 429})
RETRY_STATUS = frozenset(RETRYABLE_STATUS | {423})
RESOURCE_UNTIL = "X-RateLimit-Resource-Until"

# The shape each method's answer must have (see `api_client.shape_problem`): a wrong one fails
# as "Yandex Market <method>: unexpected answer shape (...)" before any parser reads it.
ANSWER_SHAPES: dict[str, Any] = {
    CAMPAIGNS: {"campaigns": [{"business": dict}], "paging": dict, "pager": dict},
    STOCKS: {"result": {"warehouses": [{"offers": [{"stocks": [dict]}]}], "paging": dict}},
    FBY_WAREHOUSES: {"result": {"warehouses": [dict]}},
    SELLER_WAREHOUSES: {"result": {"warehouses": [dict], "paging": dict}},
    OFFER_MAPPINGS: {"result": {"offerMappings": [{"offer": dict, "mapping": dict}], "paging": dict}},
}

# §2.2.4: the stock types Yandex documents, and their raw columns.
STOCK_TYPES = ("AVAILABLE", "FIT", "FREEZE", "QUARANTINE", "UTILIZATION", "DEFECT", "EXPIRED")
TYPE_COLUMNS = {t: t.lower() for t in STOCK_TYPES}
# §7: held, not sellable: reserved for orders or not for sale (FIT is never added: it overlaps).
HELD_TYPES = ("FREEZE", "QUARANTINE", "DEFECT", "EXPIRED", "UTILIZATION")
DERIVED = ("quantity_available", "quantity_reserved")
OFFER_STOCK_INTEGERS = tuple(TYPE_COLUMNS.values()) + DERIVED


def endpoint_group(path: str) -> str:
    return GROUPS.get(path, "default")


def server_wait(response: requests.Response) -> float | None:
    """How long a 420/429 asks to wait (§3.2): `Retry-After` if sent, else until
    `X-RateLimit-Resource-Until` (an RFC 822 date).

    The resource headers come with every answer, so a 420 for the *parallel* limit carries
    them too, with requests left (`X-RateLimit-Resource-Remaining` > 0): waiting until the
    resource's reset would be wrong there (up to an hour), so such a 420 backs off (None).
    """
    asked = retry_after_seconds(response)
    if asked is not None:
        return asked
    try:
        left = int(float(response.headers.get("X-RateLimit-Resource-Remaining", "")))
    except ValueError:
        left = None
    if left is not None and left > 0:
        return None
    return seconds_until_header(response, RESOURCE_UNTIL)


def make_client(settings: Settings, stats: SyncStats | None = None, backoff_base: float = 1.0) -> ApiClient:
    """An API client with the Api-Key header (no prefix, §3.3), the pacing of §3.2 and Yandex's
    420 rate limits. 401 and 403 are authorization failures (never retried); the source skips a
    campaign whose stock call alone is refused."""
    headers = {"Api-Key": settings.value(API_KEY), "Content-Type": "application/json"}
    return client_for(settings, YANDEX_MARKET.name, YANDEX_MARKET.label, headers, PACING, endpoint_group, stats,
                      backoff_base, rate_limit_status=RATE_LIMIT_STATUS, server_wait=server_wait,
                      retry_status=RETRY_STATUS)


def next_page_token(answer: Any) -> str | None:
    """`paging.nextPageToken` of an answer, wrapped in `result` or not (`GET /v2/campaigns` is
    not, §2.1); None on the last page. Opaque: passed back as is."""
    if not isinstance(answer, dict):
        return None
    result = answer.get("result") if isinstance(answer.get("result"), dict) else answer
    paging = result.get("paging")
    token = paging.get("nextPageToken") if isinstance(paging, dict) else None
    return str(token) if token not in (None, "") else None


def offers_in(warehouses: list[dict[str, Any]]) -> int:
    """Offers on a getStocks page: what makes a page empty or not (and what Yandex counts, §2.2.5)."""
    return sum(len(w.get("offers") or []) for w in warehouses)


class YandexMarketApi:
    """The Yandex Market calls the source needs, each returning plain Python data.

    At most `MAX_IN_FLIGHT` calls are in flight at once, whatever dlt's worker threads do (§7).
    """

    def __init__(self, client: ApiClient, base_url: str, warnings: list[str] | None = None):
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.warnings = warnings if warnings is not None else []
        self._in_flight = threading.BoundedSemaphore(MAX_IN_FLIGHT)

    def call(self, method: str, path: str, template: str, params: dict[str, Any] | None = None,
             body: Any = None) -> Any:
        with self._in_flight:
            return self.client.request(method, self.base_url + path, endpoint=template, params=params,
                                       json_body=body, expect=ANSWER_SHAPES.get(template, dict)) or {}

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)
            log.warning(text)

    def token_pages(self, fetch: Callable[[dict[str, Any]], Any], items: Callable[[Any], list[dict[str, Any]]],
                    what: str, size: Callable[[list[dict[str, Any]]], int] = len) -> Iterator[list[dict[str, Any]]]:
        """Pages of a `pageToken` method (§2.2.2): `fetch(params)` with the last answer's
        `nextPageToken` until there is none; non-empty pages are yielded.

        Tolerated (§7, §5.2): an empty page that still carries a token (paging goes on, but
        `MAX_EMPTY_PAGES` of them in a row stop it with a warning); a token that comes back
        again (it would loop: stopped with a warning).
        """
        token: str | None = None
        seen: set[str] = set()
        empty = 0
        while True:
            answer = fetch({"pageToken": token} if token else {})
            page = items(answer)
            if size(page):
                empty = 0
                yield page
            else:
                empty += 1
            token = next_page_token(answer)
            if token is None:
                return
            if empty >= MAX_EMPTY_PAGES:
                self.warn(f"{YANDEX_MARKET.label} {what}: {empty} empty pages in a row still carried a "
                          "nextPageToken; stopped paging there (the answer may be incomplete)")
                return
            if token in seen:
                self.warn(f"{YANDEX_MARKET.label} {what}: the same nextPageToken came back; stopped paging there")
                return
            seen.add(token)

    def campaigns(self) -> list[dict[str, Any]]:
        """Every campaign of the token (§2.1): not wrapped in `result`; `paging` and/or the
        deprecated `pager`, or neither (one page)."""
        rows: list[dict[str, Any]] = []

        def fetch(params: dict[str, Any]) -> Any:
            return self.call("GET", CAMPAIGNS, CAMPAIGNS, params={"limit": CAMPAIGNS_LIMIT, **params})

        for page in self.token_pages(fetch, lambda a: list(a.get("campaigns") or []), CAMPAIGNS):
            rows.extend(page)
        return rows

    def stock_pages(self, campaign_id: Any) -> Iterator[list[dict[str, Any]]]:
        """getStocks pages of one campaign (§2.2): `warehouses[]` of each page, body `{}`
        (non-archived offers), `limit=100`. A warehouse may continue on the next page: the
        caller adds its offers (rows are per warehouse × offer, never replaced)."""
        path = f"/v2/campaigns/{campaign_id}/offers/stocks"

        def fetch(params: dict[str, Any]) -> Any:
            return self.call("POST", path, STOCKS, params={"limit": STOCKS_LIMIT, **params}, body={})

        def warehouses(answer: Any) -> list[dict[str, Any]]:
            return list((answer.get("result") or {}).get("warehouses") or [])

        return self.token_pages(fetch, warehouses, f"{STOCKS} (campaign {campaign_id})", size=offers_in)

    def fby_warehouses(self) -> list[dict[str, Any]]:
        """Market warehouses (FBY, LaaS) with their names (§2.4.1); no paging."""
        return list((self.call("GET", FBY_WAREHOUSES, FBY_WAREHOUSES).get("result") or {}).get("warehouses") or [])

    def seller_warehouse_pages(self, business_id: Any) -> Iterator[list[dict[str, Any]]]:
        """The business's own warehouses (§2.4.2): names, `campaignId`, `express`, `groupInfo`."""
        path = f"/v2/businesses/{business_id}/warehouses"

        def fetch(params: dict[str, Any]) -> Any:
            return self.call("POST", path, SELLER_WAREHOUSES, params={"limit": SELLER_WAREHOUSES_LIMIT, **params}, body={})

        return self.token_pages(fetch, lambda a: list((a.get("result") or {}).get("warehouses") or []),
                                f"{SELLER_WAREHOUSES} (business {business_id})")

    def offer_mapping_pages(self, business_id: Any) -> Iterator[list[dict[str, Any]]]:
        """The business's catalog (§2.5), non-archived offers (no body filter = whole catalog)."""
        path = f"/v2/businesses/{business_id}/offer-mappings"

        def fetch(params: dict[str, Any]) -> Any:
            return self.call("POST", path, OFFER_MAPPINGS, params={"limit": OFFER_MAPPINGS_LIMIT, **params}, body={})

        return self.token_pages(fetch, lambda a: list((a.get("result") or {}).get("offerMappings") or []),
                                f"{OFFER_MAPPINGS} (business {business_id})")


# ---------------------------------------------------------------------- rows
def campaign_row(campaign: dict[str, Any]) -> dict[str, Any]:
    """One `campaigns` row: the campaign's fields with `business` flattened (snake_case names
    set here, so dlt's naming cannot make two columns of one field)."""
    business = campaign.get("business") if isinstance(campaign.get("business"), dict) else {}
    rest = {k: v for k, v in campaign.items() if k not in ("id", "business", "placementType", "apiAvailability")}
    return {"campaign_id": campaign.get("id"), "business_id": business.get("id"), "business_name": business.get("name"),
            "placement_type": campaign.get("placementType"), "api_availability": campaign.get("apiAvailability"), **rest}


def offer_quantities(stocks: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One offer's `stocks[]` as the `offer_stocks` quantity columns (§2.2.4, §7), and the
    elements of types §2.2.4 does not list (not counted; the caller warns).

    Columns: each documented type's count as sent (`available`, `fit`, `freeze`, ...; null
    when the type is absent), checked at the edge (`pages.check_quantities`); then
    `quantity_available` = AVAILABLE (absent: FIT − FREEZE) and `quantity_reserved` = FREEZE +
    QUARANTINE + DEFECT + EXPIRED + UTILIZATION, absent types counting 0 and FIT never added
    to the others. A bad count (or a type given twice) rejects the row: `_invalid_reason`, and
    both derived quantities null.
    """
    row: dict[str, Any] = dict.fromkeys(TYPE_COLUMNS.values())
    given: list[str] = []
    unknown: list[dict[str, Any]] = []
    for stock in stocks:
        kind = stock.get("type") if isinstance(stock, dict) else None
        if kind not in TYPE_COLUMNS:
            unknown.append(stock)
            continue
        given.append(kind)
        if "count" in stock:
            row[TYPE_COLUMNS[kind]] = stock["count"]
        else:  # reported as missing by the check, never read as 0
            row.pop(TYPE_COLUMNS[kind], None)
    check_quantities([row], tuple(TYPE_COLUMNS[t] for t in dict.fromkeys(given)))
    twice = [t for t in dict.fromkeys(given) if given.count(t) > 1]
    if twice:
        problem = "; ".join(f"{t.lower()}: given {given.count(t)} times" for t in twice)
        row[INVALID_REASON] = f"{row[INVALID_REASON]}; {problem}" if row.get(INVALID_REASON) else f"invalid quantity: {problem}"
    if row.get(INVALID_REASON):
        row.update(dict.fromkeys(DERIVED))
        return row, unknown
    count = {t: row.get(TYPE_COLUMNS[t]) or 0 for t in STOCK_TYPES}
    available = count["AVAILABLE"] if "AVAILABLE" in given else count["FIT"] - count["FREEZE"]
    row["quantity_available"] = available
    row["quantity_reserved"] = sum(count[t] for t in HELD_TYPES)
    return row, unknown


def fit_disagrees(row: dict[str, Any]) -> bool:
    """FIT sent beside AVAILABLE but not equal to AVAILABLE + FREEZE (§5.1, unverified): counted
    for the sync record, never used (AVAILABLE wins)."""
    if row.get("available") is None or row.get("fit") is None or row.get(INVALID_REASON):
        return False
    return row["fit"] != row["available"] + (row.get("freeze") or 0)


def offer_stock_rows(campaign: dict[str, Any], warehouses: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], set[str]]:
    """One getStocks page as `offer_stocks` rows, one per warehouse × offer, with the campaign
    it came from and its model; and the names of stock types §2.2.4 does not list.

    A warehouse that continues on another page gives its further rows there: rows are added,
    never replaced (§7). Offer fields other than `stocks` land as they come (`updatedAt`,
    `turnoverSummary` as JSON text); unknown stock types land in `unknown_stocks` (JSON text).
    """
    business = campaign.get("business") if isinstance(campaign.get("business"), dict) else {}
    base = {"campaign_id": campaign.get("id"), "business_id": business.get("id"),
            "placement_type": campaign.get("placementType")}
    rows: list[dict[str, Any]] = []
    unknown_types: set[str] = set()
    for warehouse in warehouses:
        for offer in warehouse.get("offers") or []:
            quantities, unknown = offer_quantities(list(offer.get("stocks") or []))
            unknown_types.update(str(s.get("type") if isinstance(s, dict) else s) for s in unknown)
            rest = {k: v for k, v in offer.items() if k not in ("offerId", "stocks")}
            rows.append({**base, "warehouse_id": warehouse.get("warehouseId"), "offer_id": offer.get("offerId"),
                         **rest, **quantities, "unknown_stocks": unknown or None})
    return rows, unknown_types


def offer_rows(business_id: Any, mappings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """offer-mappings items as `offers` rows, one per offer (§2.5): the offer's fields, its
    card's (`mapping`) fields, `market_sku` and the business. Arrays (barcodes, campaigns,
    sellingPrograms) land as JSON text."""
    rows = []
    for item in mappings:
        offer = item.get("offer") if isinstance(item.get("offer"), dict) else {}
        mapping = item.get("mapping") if isinstance(item.get("mapping"), dict) else {}
        rest = {k: v for k, v in offer.items() if k != "offerId"}
        card = {k: v for k, v in mapping.items() if k != "marketSku"}
        rows.append({"business_id": business_id, "offer_id": offer.get("offerId"), **rest, **card,
                     "market_sku": mapping.get("marketSku"), "showcase_urls": item.get("showcaseUrls")})
    return rows


def stock_table(rows: list[dict[str, Any]]) -> pa.Table:
    """A page of `offer_stocks` rows (quantities already checked by `offer_quantities`), typed int64."""
    return rows_to_table(rows, integers=OFFER_STOCK_INTEGERS)


# ---------------------------------------------------------------------- the source
class Account:
    """The token's campaigns, read once per sync whichever resource asks first (thread-safe)."""

    def __init__(self, api: YandexMarketApi, counts: dict[str, Any]):
        self._api, self._counts = api, counts
        self._lock = threading.Lock()
        self._campaigns: list[dict[str, Any]] | None = None

    def campaigns(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._campaigns is None:
                self._campaigns = self._api.campaigns()
                self._counts["campaigns"] = len(self._campaigns)
                plan(self._counts, STOCKS, sum(1 for c in self._campaigns if is_available(c)))
            return self._campaigns

    def businesses(self) -> list[Any]:
        """The businesses of the available campaigns (a token belongs to one, §3.3), in order."""
        ids = (((c.get("business") or {}).get("id")) for c in self.campaigns() if is_available(c))
        return [b for b in dict.fromkeys(ids) if b is not None]


def is_available(campaign: dict[str, Any]) -> bool:
    return campaign.get("apiAvailability") == "AVAILABLE"


def describe(campaign: dict[str, Any]) -> str:
    domain = f" ({campaign['domain']})" if campaign.get("domain") else ""
    return f"campaign {campaign.get('id')}{domain}, {campaign.get('placementType') or 'model unknown'}"


@dlt.source(name=YANDEX_MARKET.name, max_table_nesting=0)
def yandex_market_source(api: YandexMarketApi, counts: dict[str, Any] | None = None) -> list[Any]:
    """All Yandex Market resources (§7). Stock and catalog are read whole on every sync.

    `counts` (optional) receives what the sync saw (`campaigns`, `campaigns_read`,
    `campaigns_skipped`, `offer_stock_rows`, `fit_disagrees`, `offers_fetched`) and `warnings`
    (skipped campaigns, unknown stock types, paging stopped early).
    """
    counts = counts if counts is not None else {}
    warnings: list[str] = counts.setdefault("warnings", [])
    api.warnings = warnings
    account = Account(api, counts)
    plan(counts, CAMPAIGNS, 1)

    @dlt.resource(name="offer_stocks", write_disposition="replace", parallelized=True)
    def offer_stocks() -> Iterator[Any]:
        """Stock per campaign × warehouse × offer, campaign by campaign; then the `campaigns`
        table saying which campaigns were read."""
        campaign_rows: list[dict[str, Any]] = []
        refused: list[AuthError] = []
        rows_seen = mismatches = 0
        for campaign in account.campaigns():
            row = campaign_row(campaign)
            campaign_rows.append(row)
            if not is_available(campaign):
                row.update(stocks_read=False, skip_reason=f"apiAvailability {campaign.get('apiAvailability')}")
                api.warn(f"{YANDEX_MARKET.label} {describe(campaign)} skipped: apiAvailability is "
                         f"{campaign.get('apiAvailability')}; its stock was not read and keeps its published values")
                continue
            tables: list[pa.Table] = []  # yielded once the whole campaign is read
            try:
                for page in api.stock_pages(campaign.get("id")):
                    rows, unknown = offer_stock_rows(campaign, page)
                    for kind in sorted(unknown):
                        api.warn(f"{YANDEX_MARKET.label} stock type '{kind}' is not documented "
                                 "(yandex_market.md §2.2.4): not counted, kept in offer_stocks.unknown_stocks")
                    mismatches += sum(fit_disagrees(r) for r in rows)
                    rows_seen += len(rows)
                    tables.append(stock_table(rows))
            except AuthError as exc:
                if exc.status != 403:
                    raise
                refused.append(exc)
                row.update(stocks_read=False, skip_reason=f"403: {exc}")
                api.warn(f"{YANDEX_MARKET.label} {describe(campaign)} skipped: its stock was refused ({exc}); "
                         "it keeps its published values")
                continue
            row.update(stocks_read=True, skip_reason=None)
            yield from tables
        if refused and not any(r.get("stocks_read") for r in campaign_rows):
            # Every campaign refused: the key lacks a permission, not one campaign its contract.
            raise refused[-1]
        counts["campaigns_read"] = sum(1 for r in campaign_rows if r.get("stocks_read"))
        counts["campaigns_skipped"] = len(campaign_rows) - counts["campaigns_read"]
        counts["offer_stock_rows"] = rows_seen
        counts["fit_disagrees"] = mismatches
        if campaign_rows:
            yield dlt.mark.with_table_name(rows_to_table(campaign_rows), "campaigns")

    @dlt.resource(name="fby_warehouses", write_disposition="replace", parallelized=True)
    def fby_warehouses() -> Iterator[pa.Table]:
        """Names of Market warehouses (FBY, LaaS): the stock answer gives ids only."""
        try:
            rows = api.fby_warehouses()
        except EndpointGone as gone:
            api.warn(f"{YANDEX_MARKET.label} Market warehouse names: {gone}; their rows are named by id")
            return
        if rows:
            yield rows_to_table(rows)

    @dlt.resource(name="seller_warehouses", write_disposition="replace", parallelized=True)
    def seller_warehouses() -> Iterator[pa.Table]:
        """The seller's warehouses per business: names, and `express` (an FBS row there is EXPRESS)."""
        for business_id in account.businesses():
            for page in api.seller_warehouse_pages(business_id):
                yield rows_to_table([{"business_id": business_id, **w} for w in page])

    @dlt.resource(name="offers", write_disposition="replace", parallelized=True)
    def offers() -> Iterator[pa.Table]:
        """The catalog per business (names, barcodes, marketSku), read whole on every sync."""
        fetched = 0
        for business_id in account.businesses():
            for page in api.offer_mapping_pages(business_id):
                fetched += len(page)
                yield rows_to_table(offer_rows(business_id, page))
        counts["offers_fetched"] = fetched
        counts["catalog"] = "all offers"

    return [offer_stocks, fby_warehouses, seller_warehouses, offers]


def make_source(settings: Settings, stats: SyncStats, counts: dict[str, Any], full: bool, backoff_base: float,
                base: CatalogBase = CatalogBase()) -> Any:
    """The registry's source factory (`pipelines.marketplaces.ym.YANDEX_MARKET`): a fresh source
    per sync. `full` and `base` change nothing: Yandex has no catalog cursor, so every sync
    reads the whole catalog and the whole stock."""
    api = YandexMarketApi(make_client(settings, stats, backoff_base), settings.value(API_URL))
    return yandex_market_source(api, counts=counts)
