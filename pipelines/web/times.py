"""Times for people: the local clock of the schedules' zone and "3 min ago", UTC on hover.

Why: the warehouse stores UTC (the data contract), which is right for machines and the API but
reads as `2026-12-05T17:02:51.666470+00:00` and `0.02 h ago` in a console. The console shows
times in `Settings.schedule_timezone` (the zone the schedules run in, so "synced at 06:00"
matches the schedule people configured) with the age beside it, and keeps the exact UTC time
in the `title` attribute and the `datetime` attribute of a `<time>` element.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape


def as_utc(value: Any) -> datetime | None:
    """A stored or ISO time as an aware UTC datetime (naive values are UTC by contract)."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def ago(value: Any, now: datetime | None = None) -> str:
    """"just now", "3 min ago", "2 h 5 min ago", "3 days ago" (or "in 2 min" for clock skew)."""
    at = as_utc(value)
    if at is None:
        return ""
    seconds = ((now or datetime.now(timezone.utc)) - at).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now"
    minutes = round(seconds / 60)
    if minutes < 60:
        words = f"{minutes} min"
    elif minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        words = f"{hours} h" + (f" {rest} min" if rest and hours < 6 else "")
    else:
        days = round(minutes / 1440)
        words = f"{days} days"
    return f"in {words}" if future else f"{words} ago"


def local(value: Any, zone: str, now: datetime | None = None) -> str:
    """"17:02" today, "5 Dec 17:02" this year, else "5 Dec 2025 17:02" (in `zone`, with its abbreviation)."""
    at = as_utc(value)
    if at is None:
        return ""
    tz = ZoneInfo(zone)
    here = at.astimezone(tz)
    today = (now or datetime.now(timezone.utc)).astimezone(tz)
    if here.date() == today.date():
        text = here.strftime("%H:%M")
    elif here.year == today.year:
        text = f"{here.day} {here.strftime('%b %H:%M')}"
    else:
        text = f"{here.day} {here.strftime('%b %Y %H:%M')}"
    return f"{text} {here.tzname()}"


def utc_text(value: Any) -> str:
    at = as_utc(value)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else ""


def when(value: Any, zone: str, with_age: bool = True) -> Markup:
    """A `<time>`: local time and age; the UTC time on hover and in `datetime`."""
    at = as_utc(value)
    if at is None:
        return Markup('<span class="never">never</span>')
    text = local(at, zone) + (f" · {ago(at)}" if with_age else "")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        at.isoformat(), utc_text(at), escape(text))


def duration(seconds: Any) -> str:
    """42 -> "42 s"; 130 -> "2 min 10 s"."""
    if seconds in (None, ""):
        return ""
    s = float(seconds)
    if s < 60:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
    minutes, rest = divmod(round(s), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def install(env: Any, zone: str) -> None:
    """The Jinja filters the console's templates use: `when`, `ago`, `local`, `duration`."""
    env.filters["when"] = lambda v, with_age=True: when(v, zone, with_age)
    env.filters["ago"] = ago
    env.filters["local"] = lambda v: local(v, zone)
    env.filters["duration"] = duration
    env.globals["timezone"] = zone
