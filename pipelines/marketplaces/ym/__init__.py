"""Yandex Market: what the rest of the product knows about it (`YANDEX_MARKET`), and its configuration.

Light on purpose (no dlt, no HTTP): the registry imports it. The dlt source is
`pipelines.marketplaces.ym.source`; the API reference it is written from is
`docs/api/yandex_market.md` (§7 is the binding mapping to `inventory_data`); staging models
`dbt_project/models/staging/ym/`.

Only an Api-Key token is configured (`yandex_market.md` §7): the business and its campaigns
come from `GET /v2/campaigns`, so there is nothing to check across variables.

The catalog is `offers.offer_id` (`POST /v2/businesses/{businessId}/offer-mappings`). Yandex
has no "changed since" for the catalog (§2.5: filters only), so there is no cursor and an
incremental sync reads the whole catalog again, as a full one does; stock is a complete
snapshot on every sync anyway.
"""

from __future__ import annotations

from pipelines.marketplaces.base import Marketplace, Variable
from pipelines.marketplaces.ym import checks

API_KEY, API_URL = "YM_API_KEY", "YM_API_URL"

YANDEX_MARKET = Marketplace(
    name="ym", label="Yandex Market", source_module="pipelines.marketplaces.ym.source", raw_dataset="raw_ym",
    catalog=("offers", "offer_id"), catalog_cursor=None, catalog_model="stg_ym__offers",
    # No answer states a product total (offer-mappings and getStocks page on tokens only).
    api_count=None, answer_checks=(checks.fit_is_available_plus_freeze,),
    cron="30 1,7,13,19 * * *", color="#fc3f1d",
    # The campaigns table is written at the end of the stock resource: only then is it known
    # which campaigns' stock was read (a 403 on one campaign skips it).
    table_written_by={"campaigns": "offer_stocks"},
    stock_types=("FBY", "FBS", "EXPRESS", "DBS", "LAAS"),
    variables=(
        Variable(API_KEY, secret=True, required=True),
        Variable(API_URL, default="https://api.partner.market.yandex.ru", url=True),
    ),
)
