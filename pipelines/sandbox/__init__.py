"""A faithful local emulator of the Ozon, Wildberries and Yandex Market seller APIs (the "sandbox").

Why it exists: the inventory sync must be developed and tested against the real API shapes,
paging, limits and failures without a real seller account. The sandbox serves every
marketplace on one loopback URL from a deterministic account (same seed, same answers), or
several (`SandboxOptions.accounts`: each its own credentials, catalogue and truth), and knows the
truth a correct sync must end with (`Account.expected_inventory()`).

    from pipelines.sandbox import Sandbox, SandboxOptions, Fault
    with Sandbox(SandboxOptions(products=200, seed=42, rate_limit_scale=0.01)) as sb:
        env = sb.env()            # point the app at sb.url
        sb.tick()                 # time moves
        sb.add_fault(Fault("rate_limit", path="/v4/product/info/stocks", count=3))
        truth = sb.account.expected_inventory()
        sb.set_wb_aggregation(True)   # WB's "Склад WB" places from now on

    # several seller accounts: each its own credentials, catalogue, truth, limits
    with Sandbox(SandboxOptions(accounts=("a", "b"))) as sb:
        env_a = sb.env("a")
        truth_a = sb.accounts["a"].expected_inventory()
        sb.revoke("a", "ozon")        # a's Ozon key answers 403 code 7 from now on

Unverified parts of the specs are played one documented way (see SandboxOptions and each
handler's docstring); a few can be switched through SandboxOptions.
"""

from .account import Account
from .auth import (
    OZON_API_KEY,
    OZON_CLIENT_ID,
    OZON_REVOKED_API_KEY,
    WB_API_TOKEN,
    WB_BASIC_TOKEN,
    WB_CONTENT_ONLY_TOKEN,
    WB_REVOKED_API_TOKEN,
    YM_API_KEY,
    YM_REVOKED_API_KEY,
    account_credentials,
    wb_token,
)
from .faults import FAULT_KINDS, Fault
from .limits import RATE_LIMITS, Limit
from .options import DEFAULT_ACCOUNT, SandboxOptions
from .server import RequestLog, Sandbox, main, serve_forever

__all__ = [
    "Account", "DEFAULT_ACCOUNT", "FAULT_KINDS", "Fault", "Limit", "OZON_API_KEY", "OZON_CLIENT_ID",
    "OZON_REVOKED_API_KEY", "RATE_LIMITS", "RequestLog", "Sandbox", "SandboxOptions",
    "WB_API_TOKEN", "WB_BASIC_TOKEN", "WB_CONTENT_ONLY_TOKEN", "WB_REVOKED_API_TOKEN", "YM_API_KEY",
    "YM_REVOKED_API_KEY", "account_credentials", "main", "serve_forever", "wb_token",
]
