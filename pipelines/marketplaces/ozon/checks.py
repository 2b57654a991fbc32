"""Ozon's answer held to its own totals: the v4 `fbo` figures of an offer against the sum of the
same load's FBO rows per warehouse (`int_ozon__warehouse_sums`, ozon.md §2.3 and §2.5)."""

from __future__ import annotations

from pipelines.marketplaces.base import DEFAULT_ACCOUNT, AnswerTotals, FrameReader

# The FBO fallback method: it reports units available only, so only those are compared, and a
# difference is a row warning (its figures are computed apart from v4's, ozon.md §2.5).
ANALYTICS_METHOD = "analytics_stocks"


def fbo_sums(wh: FrameReader, account: str = DEFAULT_ACCOUNT) -> AnswerTotals | None:
    """Per offer of `account`: the v4 `fbo` totals against the sums of its FBO rows per warehouse."""
    frame = wh.frame("select * from int_ozon__warehouse_sums where stock_type = 'FBO' and account = %s", (account,))
    if frame.empty:
        return None
    methods = set(frame["fbo_method"].dropna())
    if methods == {ANALYTICS_METHOD}:
        return AnswerTotals(frame, (("reported_available", "landed_available"),), False,
                            "FBO units available per warehouse (analytics fallback) vs the v4 totals", ("offer_id",))
    return AnswerTotals(frame, (("reported_present", "landed_present"), ("reported_reserved", "landed_reserved")),
                        True, "FBO rows per warehouse vs the v4 totals of the same load", ("offer_id",))
