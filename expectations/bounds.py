"""How far a total may move from one sync to the next, learned from this account's history.

Why: a fixed share treats a five-product seller's ordinary sale as a broken answer and knows
nothing about how a given account usually moves. The history is the series of totals the
account's published syncs recorded (oldest first); each step's relative change is one
observation. The band for the next change is the median change plus or minus `move_mads`
robust spreads (1.4826 x the median absolute deviation: the standard deviation for normal
data, but not dragged by the odd outlier), and never narrower than `move_floor_share`, so a
calm history does not make every change an anomaly. Without enough history the configured
default share applies. The critical band (a units drop that holds the publish back) is twice
as wide, at least `critical_drop_share`.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Sequence

from pipelines.config import CheckThresholds

MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Band:
    """Allowed relative change (-0.3 = a 30% drop) and where the numbers came from."""

    low: float
    high: float
    source: str

    def bounds(self, previous: float) -> tuple[float, float]:
        """The band as absolute values around `previous` (never below 0)."""
        return max(0.0, previous * (1 + self.low)), previous * (1 + self.high)


def relative_changes(series: Sequence[float]) -> list[float]:
    """Step-to-step relative changes; steps from 0 say nothing about proportion and are skipped."""
    return [(b - a) / a for a, b in zip(series, series[1:]) if a > 0]


def _spread(changes: list[float]) -> tuple[float, float]:
    center = median(changes)
    return center, MAD_TO_SIGMA * median(abs(c - center) for c in changes)


def move_band(series: Sequence[float], t: CheckThresholds) -> Band:
    """The range of an ordinary move (outside it: a warning)."""
    changes = relative_changes(series)
    if len(changes) < t.history_min:
        return Band(-t.move_share, t.move_share,
                    f"default ±{t.move_share:.0%} (history holds {len(changes)} of the {t.history_min} changes needed)")
    center, sigma = _spread(changes)
    half = max(t.move_mads * sigma, t.move_floor_share)
    return Band(center - half, center + half,
                f"history of {len(changes)} changes: median {center:+.1%}, spread {sigma:.1%}, band ±{half:.1%}")


def critical_band(series: Sequence[float], t: CheckThresholds) -> Band:
    """The range outside which a drop is far from anything this account does (a broken answer,
    when it is also large in absolute terms)."""
    changes = relative_changes(series)
    if len(changes) < t.history_min:
        return Band(-t.critical_drop_share, float("inf"),
                    f"default -{t.critical_drop_share:.0%} (history holds {len(changes)} of the {t.history_min} changes needed)")
    center, sigma = _spread(changes)
    half = max(2 * t.move_mads * sigma, t.critical_drop_share)
    return Band(center - half, float("inf"),
                f"history of {len(changes)} changes: median {center:+.1%}, spread {sigma:.1%}, drop beyond {half:.1%}")
