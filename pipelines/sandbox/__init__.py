"""A faithful local emulator of the Ozon, Wildberries and Yandex Market seller APIs (the "sandbox").

Why it exists: the inventory sync must be developed and tested against the real API shapes,
paging, limits and failures without a real seller account. The sandbox serves every
marketplace on one loopback URL from a deterministic account (same seed, same answers) and
knows the truth a correct sync must end with (`Account.expected_inventory()`).

    from pipelines.sandbox import Sandbox, SandboxOptions, Fault
    with Sandbox(SandboxOptions(products=200, seed=42, rate_limit_scale=0.01)) as sb:
        env = sb.env()            # point the app at sb.url
        sb.tick()                 # time moves
        sb.add_fault(Fault("rate_limit", path="/v4/product/info/stocks", count=3))
        truth = sb.account.expected_inventory()
        sb.set_wb_aggregation(True)   # WB's "Склад WB" places from now on

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
    YM_API_KEY,
    YM_REVOKED_API_KEY,
    wb_token,
)
from .faults import FAULT_KINDS, Fault
from .limits import RATE_LIMITS, Limit
from .options import SandboxOptions
from .server import RequestLog, Sandbox, main, serve_forever

__all__ = [
    "Account", "FAULT_KINDS", "Fault", "Limit", "OZON_API_KEY", "OZON_CLIENT_ID",
    "OZON_REVOKED_API_KEY", "RATE_LIMITS", "RequestLog", "Sandbox", "SandboxOptions",
    "WB_API_TOKEN", "WB_BASIC_TOKEN", "WB_CONTENT_ONLY_TOKEN", "YM_API_KEY", "YM_REVOKED_API_KEY", "main",
    "serve_forever", "wb_token",
]
