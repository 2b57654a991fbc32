"""What the sandbox plays: its seller accounts (the default one and any extra ones), their size
and moves, its limits, faults and the readings of the unverified parts of the specs.

Why a module of its own: the request handlers (`routing.Request.sandbox.options`) read these
flags, and the server builds on them; with the options in `server`, `routing` needed `server`
for its types while `server` imported `routing` (a circle held apart by a type-only import).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .faults import Fault

# The account every sandbox serves; its id, credentials and seed are those of a sandbox without accounts.
DEFAULT_ACCOUNT = "default"
# The marketplaces the sandbox plays (their keys in truth rows, `env_marketplaces`, revocation).
MARKETPLACES = ("ozon", "wb", "ym")
ACCOUNT_ID = re.compile(r"[a-z0-9_]{1,32}")
# An extra account's seed is `seed + ACCOUNT_SEED_STEP * position`. Its id ranges (product ids,
# nmIDs, barcodes, YM business) start at `seed % 89`; a step of 1000 moves that by 21, and 21 is
# prime to 89, so up to 88 extra accounts all start apart from each other and from the default.
ACCOUNT_SEED_STEP = 1000
MAX_ACCOUNTS = 88


@dataclass
class SandboxOptions:
    """How big the account is, how it moves, how hard the limits bite, what goes wrong, and
    which reading of the unverified parts of the specs the sandbox plays.

    ozon_total_field: v4 stocks and v3 product list also carry the deprecated `total`
      (default off: ozon.md §6.1 says it may be gone since 23 Nov 2026).
    ozon_fbo_zero_rows: the FBO method also lists placements with present = reserved = 0
      (default off: only rows with stock or reservations).
    ozon_unknown_warehouse_error: /v1/product/info/warehouse/stocks answers 400 for an id that
      is not a seller warehouse (default) instead of an empty page.
    wb_aggregation: WB's aggregated places ("Склад WB", "Склад WB РФ") from the start; can be
      switched mid-run with `Sandbox.set_wb_aggregation` or POST /sandbox/wb-aggregation.
    wb_legacy_supplier_stocks: serve the removed GET /api/v1/supplier/stocks (default 404).
    wb_basic_token_status: what a plain Basic token gets from the stocks-report methods
      (403 "base token is not allowed" by default, as WB's spec and third-party captures say;
      401 plays the older reading, wildberries.md §4.3).
    ym_seller_stock_types: which stock types a getStocks row on a seller warehouse (FBS,
      Express, DBS) carries, yandex_market.md §5.1: "fit_only" (default: the docs example
      shows FIT alone) or "full" (AVAILABLE + FREEZE + FIT). Market warehouses (FBY, the FBS
      returns warehouse) always carry AVAILABLE + FREEZE + FIT and any held type with units.
    ym_stocks_limit_counts: what getStocks' `limit` counts, §5.2: "offers" (default: a page
      holds at most `limit` offers, so a warehouse may continue on the next page) or
      "warehouses" (a page holds at most `limit` warehouses, each with all its offers).
    ym_empty_page_with_token: getStocks answers one empty page (`warehouses: []`) that still
      carries a nextPageToken right before the real last page, §5.2 (default off: an empty
      page without a token is the end, §2.2.2 inf).
    The truth (`expected_inventory`) is the same under every `ym_*` choice.
    env_marketplaces: whose credentials `Sandbox.env()` hands out (default None: every
      marketplace it serves); a test suite that syncs only some of them names those.
    accounts: ids (`[a-z0-9_]`, at most 32 characters, not "default") of extra seller accounts
      served besides the default one, each with its own credentials (auth.account_credentials),
      catalogue, stock, limits, faults and reports. The default account is exactly that of a
      sandbox without extra accounts; the n-th extra one has seed `seed + 1000 * n`.
    account_products: products of an extra account when not `products` (by id).
    """

    products: int = 200
    seed: int = 42
    rate_limit_scale: float = 1.0  # multiplies every limit interval; 0 = no limits
    wb_row_cap: int = 60000  # rows per /api/v1/supplier/stocks answer (legacy mode)
    tick_changes: float = 0.05  # share of stock rows changed per tick step
    faults: list[Fault] = field(default_factory=list)
    env_marketplaces: tuple[str, ...] | None = None
    ozon_total_field: bool = False
    ozon_fbo_zero_rows: bool = False
    ozon_unknown_warehouse_error: bool = True
    wb_aggregation: bool = False
    wb_legacy_supplier_stocks: bool = False
    wb_basic_token_status: int = 403
    ym_seller_stock_types: str = "fit_only"
    ym_stocks_limit_counts: str = "offers"
    ym_empty_page_with_token: bool = False
    accounts: tuple[str, ...] = ()
    account_products: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_accounts()
        if self.wb_row_cap < 1:
            raise ValueError("wb_row_cap must be >= 1")
        if self.wb_basic_token_status not in (401, 403):
            raise ValueError("wb_basic_token_status must be 401 or 403")
        if self.ym_seller_stock_types not in ("fit_only", "full"):
            raise ValueError("ym_seller_stock_types must be 'fit_only' or 'full'")
        if self.ym_stocks_limit_counts not in ("offers", "warehouses"):
            raise ValueError("ym_stocks_limit_counts must be 'offers' or 'warehouses'")

    def _check_accounts(self) -> None:
        """Extra account ids are short, distinct, not the default's, and every option naming
        an account (products, faults) names one of them."""
        if isinstance(self.accounts, str):
            raise ValueError("accounts must be a sequence of account ids, e.g. ('a', 'b'), not one string")
        self.accounts = tuple(self.accounts)
        for account in self.accounts:
            if not isinstance(account, str) or not ACCOUNT_ID.fullmatch(account):
                raise ValueError(f"account id {account!r} must be 1 to 32 characters of a-z, 0-9 and _")
        if DEFAULT_ACCOUNT in self.accounts:
            raise ValueError(f"'{DEFAULT_ACCOUNT}' is the default account: name only the extra ones in accounts")
        duplicates = sorted({a for a in self.accounts if self.accounts.count(a) > 1})
        if duplicates:
            raise ValueError(f"accounts names {', '.join(duplicates)} more than once")
        if len(self.accounts) > MAX_ACCOUNTS:
            raise ValueError(f"at most {MAX_ACCOUNTS} extra accounts (their id ranges must not meet)")
        for account, count in self.account_products.items():
            if account not in self.accounts:
                raise ValueError(f"account_products names '{account}', which is not in accounts "
                                 "(the default account's size is `products`)")
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"account_products['{account}'] must be an integer >= 0")
        for fault in self.faults:
            if fault.account is not None and fault.account not in self.account_ids:
                raise ValueError(f"fault {fault.kind} names account '{fault.account}', which the sandbox does not serve")

    @property
    def account_ids(self) -> tuple[str, ...]:
        """Every account served: the default one first, then the extra ones in order."""
        return (DEFAULT_ACCOUNT, *self.accounts)

    def account_seed(self, account: str) -> int:
        """The seed of an account's data: `seed` for the default one, `seed + 1000 * n` for the
        n-th extra one (see ACCOUNT_SEED_STEP)."""
        return self.seed + ACCOUNT_SEED_STEP * self.account_ids.index(account)

    def account_size(self, account: str) -> int:
        """How many products an account starts with."""
        return self.account_products.get(account, self.products)
