"""One seller account ("cabinet") as the server keeps it: the account's data and everything the
server counts or stores per seller.

Why a type of its own: a real marketplace limits each seller's requests on its own (a token's,
a Client-Id's, a business's buckets), keeps each seller's report files and report tasks to that
seller, and a YM business's parallel requests are that business's. So each account served gets
its own `RateLimiter`, YM `ParallelLimiter`, Ozon report files and WB report tasks, next to its
`Account`; a request reaches them through the account its credentials resolve to
(`routing.Request.cabinet`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .account import Account
from .limits import YM_PARALLEL, ParallelLimiter, RateLimiter
from .options import SandboxOptions


@dataclass
class Cabinet:
    """An account served by the sandbox, with its own limits, reports and tasks."""

    id: str
    account: Account
    limiter: RateLimiter
    parallel: ParallelLimiter
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # Ozon report code -> state
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # WB remains task id -> state


def open_cabinet(account_id: str, options: SandboxOptions) -> Cabinet:
    """The account `account_id` of a sandbox with `options`: its data from its own seed and size,
    the view options and limits every account shares."""
    account = Account(options.account_size(account_id), options.account_seed(account_id), options.tick_changes,
                      wb_aggregated=options.wb_aggregation, ozon_fbo_zero_rows=options.ozon_fbo_zero_rows)
    return Cabinet(account_id, account, RateLimiter(options.rate_limit_scale),
                   ParallelLimiter(YM_PARALLEL, enabled=options.rate_limit_scale > 0))
