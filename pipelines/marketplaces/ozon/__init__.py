"""Ozon: what the rest of the product knows about it (`OZON`), and its configuration.

Light on purpose (no dlt, no HTTP): the registry imports it, and so do `invsync status` and the
web service. The dlt source is `pipelines.marketplaces.ozon.source`, imported when a sync runs;
the API reference it is written from is `docs/api/ozon.md`; its staging models are
`dbt_project/models/staging/ozon/`.
"""

from __future__ import annotations

from pipelines.config_sections import ConfigError
from pipelines.marketplaces.base import Marketplace, Variable
from pipelines.marketplaces.ozon import checks

CLIENT_ID, API_KEY, API_URL = "OZON_CLIENT_ID", "OZON_API_KEY", "OZON_API_URL"


def check_values(values: dict[str, str]) -> dict[str, str]:
    """Client-Id and Api-Key come as a pair, and the Client-Id is a number."""
    client_id, api_key = values[CLIENT_ID], values[API_KEY]
    if api_key and not client_id:
        raise ConfigError(f"{API_KEY} is set but {CLIENT_ID} is missing")
    if client_id and not api_key:
        raise ConfigError(f"{CLIENT_ID} is set but {API_KEY} is missing")
    if client_id and not client_id.isdigit():
        # Never echo the value: a key pasted into the wrong variable would land in logs.
        raise ConfigError(f"{CLIENT_ID} must be the numeric Client-Id from the seller cabinet (digits only; "
                          f"the key goes into {API_KEY})")
    return values


OZON = Marketplace(
    name="ozon", label="Ozon", source_module="pipelines.marketplaces.ozon.source", raw_dataset="raw_ozon",
    catalog=("product_info", "id"), catalog_cursor=None, catalog_model="stg_ozon__stocks",
    api_count="total_items", answer_checks=(checks.fbo_sums,),
    cron="0 0,6,12,18 * * *", color="#005bff",
    table_written_by={"analytics_stocks": "fbo_stocks", "warehouses": "fbs_stocks"},
    stock_types=("FBO", "FBS", "realFBS", "FBP"),
    variables=(
        Variable(CLIENT_ID, required=True),
        Variable(API_KEY, secret=True, required=True),
        Variable(API_URL, default="https://api-seller.ozon.ru", url=True),
    ),
    check_values=check_values,
)
