"""Yandex Market's answer held to its own totals: where a stock row sends both `FIT` and
`AVAILABLE`, FIT must be AVAILABLE + FREEZE (a missing FREEZE counts 0; yandex_market.md §2.2.4).

The identity is inferred from the definitions, not published (`inf` in the reference), so a row
that breaks it is a warning, never a held-back publish; the client maps quantities from
AVAILABLE and FREEZE either way (§7) and counts such rows (`fit_disagrees`).
"""

from __future__ import annotations

from pipelines.marketplaces.base import DEFAULT_ACCOUNT, AnswerTotals, FrameReader


def fit_is_available_plus_freeze(wh: FrameReader, account: str = DEFAULT_ACCOUNT) -> AnswerTotals | None:
    """Per stock row of `account` that sends both FIT and AVAILABLE."""
    frame = wh.frame(
        "select campaign_id, warehouse_id, sku, fit_units as reported_fit, "
        "available_units + coalesce(freeze_units, 0) as available_plus_freeze "
        "from stg_ym__offer_stocks "
        "where account = %s and fit_units is not null and available_units is not null and invalid_reason is null",
        (account,),
    )
    if frame.empty:  # FIT alone (seller warehouses), or no FIT: nothing to hold it to
        return None
    return AnswerTotals(frame, (("reported_fit", "available_plus_freeze"),), False,
                        "FIT vs AVAILABLE + FREEZE of the same stock row", ("campaign_id", "warehouse_id", "sku"))
