"""Server-side SVG charts for the console (issue 25: a product's stock over time per warehouse).

Why SVG markup from Python: the console's Content-Security-Policy allows no inline script or
style and the project adds no chart library; an inline <svg> with presentation attributes
(stroke, fill) needs neither, renders without JavaScript, and headless tests can read it. Every
text in it is escaped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28
# Distinguishable on white, also to most colour-blind readers (Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def step_chart(series: dict[str, Sequence[tuple[datetime, int]]], start: datetime, end: datetime,
               label: str = "units available") -> Markup:
    """A step chart of several series of (time, value) points over [start, end], with a legend
    (one colour per series; past the palette, colours repeat). Empty series: no chart."""
    if not series or end <= start:
        return Markup("")
    top = max((v for points in series.values() for _, v in points), default=0) or 1
    span = (end - start).total_seconds()
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: datetime) -> float:
        return LEFT + plot_w * max(0.0, min(1.0, (t - start).total_seconds() / span))

    def y(v: int) -> float:
        return TOP + plot_h * (1 - v / top)

    legend_h = 16 * len(series)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="stock-chart" id="stock-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT + legend_h}" width="{WIDTH}" height="{HEIGHT + legend_h}" '
        f'aria-label="{escape(label)} over time, per warehouse">',
        f"<title>{escape(label)} from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC</title>",
        # axes, the top value and the two ends of the time axis
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#888"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="11">0</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="11">{start:%Y-%m-%d %H:%M}</text>',
        f'<text x="{LEFT + plot_w}" y="{HEIGHT - 8}" text-anchor="end" font-size="11">{end:%Y-%m-%d %H:%M} UTC</text>',
    ]
    for n, (name, points) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        coords: list[str] = []
        for i, (t, v) in enumerate(points):
            if i:  # hold the previous value until this time, then step
                coords.append(f"{x(t):.1f},{y(points[i - 1][1]):.1f}")
            coords.append(f"{x(t):.1f},{y(v):.1f}")
        if len(points) == 1:  # a single point: a line to the end
            coords.append(f"{x(end):.1f},{y(points[0][1]):.1f}")
        parts.append(f'<polyline class="series" data-place="{escape(name)}" fill="none" stroke="{colour}" '
                     f'stroke-width="2" points="{" ".join(coords)}"><title>{escape(name)}</title></polyline>')
        ly = HEIGHT + 12 + 16 * n
        parts.append(f'<rect x="{LEFT}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{LEFT + 16}" y="{ly}" font-size="12">{escape(name)} '
                     f'({points[-1][1] if points else 0} now)</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
