"""The marketplace registry: the list of marketplaces every layer asks.

Each marketplace is a package under `pipelines/marketplaces/<name>/`: its `__init__` describes it
(a `Marketplace`: name, label, environment variables, raw dataset, catalog, checks, schedule,
colour), its `source` module is the dlt source built from its API reference in `docs/api/`, and
its dbt staging models live in `dbt_project/models/staging/<name>/`. Everything outside those
places learns what differs between marketplaces from here: the CLI, the configuration reader,
the sync core, the audit, `status`, the report, the web service and the Dagster definitions
iterate over `MARKETPLACES`; none of them compares a marketplace's name.

Adding a marketplace: its package, its staging models plus `int_inventory__<name>`, its entry in
`MARKETPLACES` below and its name in the `marketplaces` var of `dbt_project/dbt_project.yml`
(a test holds the two lists equal).

This module stays light (no dlt, no pandas): `invsync status` and the web service import it.
"""

from __future__ import annotations

from pipelines.marketplaces.base import CatalogBase, Marketplace, Variable
from pipelines.marketplaces.ozon import OZON
from pipelines.marketplaces.wb import WILDBERRIES
from pipelines.marketplaces.ym import YANDEX_MARKET

__all__ = ["BY_NAME", "MARKETPLACES", "NAMES", "OZON", "STOCK_TYPES", "WILDBERRIES", "YANDEX_MARKET", "CatalogBase", "Marketplace", "Variable",
           "get", "label", "selected"]

MARKETPLACES: tuple[Marketplace, ...] = (OZON, WILDBERRIES, YANDEX_MARKET)
BY_NAME: dict[str, Marketplace] = {m.name: m for m in MARKETPLACES}
NAMES: tuple[str, ...] = tuple(BY_NAME)
# Every marketplace's schemes, each once, in registry order (the values `stock_type` may take).
STOCK_TYPES: tuple[str, ...] = tuple(dict.fromkeys(t for m in MARKETPLACES for t in m.stock_types))


def get(name: str) -> Marketplace:
    """The marketplace called `name`; a clear error for anything else."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown marketplace '{name}': use {', '.join(NAMES)} or all") from None


def selected(which: str) -> tuple[Marketplace, ...]:
    """`all` or one marketplace's name."""
    return MARKETPLACES if which == "all" else (get(which),)


def label(name: str) -> str:
    """A marketplace's label, or the name itself for rows of unknown origin (legacy imports)."""
    return BY_NAME[name].label if name in BY_NAME else name
