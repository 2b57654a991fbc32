"""Which seller accounts a reader may see: the one SQL condition every read of the web service
(and the status it shows) adds for a caller whose API token names accounts.

Why a module of its own: the stock reads, the sync history and the status records are built in
three modules (`pipelines.web.reads`, `pipelines.web.stock_reads`, `pipelines.status`), and a
second copy of this condition is where a leak would hide. `pipelines.status` sits below the web
service's reads (they import it), so the condition sits below both.
"""

from __future__ import annotations

from typing import Any

# The accounts a caller may see: None is every account (an unscoped token, the CLI, Dagster).
AccountScope = tuple[str, ...] | None


def account_condition(scope: AccountScope, column: str = "account") -> tuple[str, list[Any]]:
    """The SQL condition limiting `column` to `scope`, and its parameters; ("", []) for every account.

    `column` is text the caller chose from its own code (a table alias at most), never input;
    the account ids are bound parameters. An empty scope matches nothing (never everything).
    """
    if scope is None:
        return "", []
    if not scope:
        return "1 = 0", []
    return f"{column} in ({', '.join(['%s'] * len(scope))})", list(scope)


def and_account(scope: AccountScope, column: str = "account") -> tuple[str, list[Any]]:
    """The condition as ` and ...` to append to a query that already has a `where` ("" for every account)."""
    condition, params = account_condition(scope, column)
    return (f" and {condition}" if condition else ""), params
