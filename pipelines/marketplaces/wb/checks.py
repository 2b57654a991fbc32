"""Wildberries' answer held to its own totals: each barcode's «Всего находится на складах» in
the remains report against the sum of its real places (the official example: 267 = 134 + 133)."""

from __future__ import annotations

from pipelines.marketplaces.base import DEFAULT_ACCOUNT, AnswerTotals, FrameReader


def remains_totals(wh: FrameReader, account: str = DEFAULT_ACCOUNT) -> AnswerTotals | None:
    """Per barcode of `account`: the report's total against the sum of its real places."""
    frame = wh.frame(
        "select sku, coalesce(sum(case when entry_kind = 'total' then quantity end), 0) as reported_total, "
        "coalesce(sum(case when entry_kind = 'warehouse' then quantity end), 0) as landed_total "
        "from stg_wb__warehouse_remains where account = %s group by sku",
        (account,),
    )
    if frame.empty:
        return None
    return AnswerTotals(frame, (("reported_total", "landed_total"),), True,
                        "the remains report's own per-barcode totals", ("sku",))
