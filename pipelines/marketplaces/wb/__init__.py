"""Wildberries: what the rest of the product knows about it (`WILDBERRIES`), and its configuration.

Light on purpose (no dlt, no HTTP): the registry imports it. The dlt source is
`pipelines.marketplaces.wb.source`, the token's claims `pipelines.marketplaces.wb.token`; the API
reference is `docs/api/wildberries.md`; staging models `dbt_project/models/staging/wb/`.
"""

from __future__ import annotations

from pipelines.config_sections import ConfigError
from pipelines.marketplaces.base import Marketplace, Variable
from pipelines.marketplaces.wb import checks

API_TOKEN = "WB_API_TOKEN"
STATISTICS_API_URL, ANALYTICS_API_URL = "WB_STATISTICS_API_URL", "WB_ANALYTICS_API_URL"
MARKETPLACE_API_URL, CONTENT_API_URL = "WB_MARKETPLACE_API_URL", "WB_CONTENT_API_URL"
# Which method gives FBO stock: `auto` (the stocks report, the warehouse-remains report when the
# token may not use it or it is gone), `stocks-report` or `remains` only.
FBO_SOURCE = "WB_FBO_SOURCE"
FBO_SOURCES = ("auto", "stocks-report", "remains")
# Values of earlier versions, read as their successor (GET /api/v1/supplier/stocks is gone).
FBO_SOURCE_ALIASES = {"stocks": "auto"}


def check_values(values: dict[str, str]) -> dict[str, str]:
    """WB_FBO_SOURCE is one of the known methods (an old spelling is read as its successor)."""
    source = FBO_SOURCE_ALIASES.get(values[FBO_SOURCE], values[FBO_SOURCE])
    if source not in FBO_SOURCES:
        raise ConfigError(f"{FBO_SOURCE} '{source}' is not one of: {', '.join(FBO_SOURCES)}")
    return {**values, FBO_SOURCE: source}


WILDBERRIES = Marketplace(
    name="wb", label="Wildberries", source_module="pipelines.marketplaces.wb.source", raw_dataset="raw_wb",
    catalog=("cards", "chrt_id"), catalog_cursor=("cards", "updated_at"), catalog_model="stg_wb__cards",
    api_count=None, answer_checks=(checks.remains_totals,),
    cron="0 3,9,15,21 * * *", color="#cb11ab",
    table_written_by={"warehouse_remains": "wb_warehouse_stocks"},
    stock_types=("FBO", "FBS", "DBS", "DBW", "C&C", "EDBS"),
    variables=(
        Variable(API_TOKEN, secret=True, required=True),
        Variable(STATISTICS_API_URL, default="https://statistics-api.wildberries.ru", url=True),
        Variable(ANALYTICS_API_URL, default="https://seller-analytics-api.wildberries.ru", url=True),
        Variable(MARKETPLACE_API_URL, default="https://marketplace-api.wildberries.ru", url=True),
        Variable(CONTENT_API_URL, default="https://content-api.wildberries.ru", url=True),
        Variable(FBO_SOURCE, default="auto"),
    ),
    check_values=check_values,
)
