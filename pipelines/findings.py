"""The audit's checks in plain words: what moved, by how much, against what range and why.

Why one module: the console, `invsync status`, the HTML report, the alert mail and Dagster's
check descriptions all tell people about the same checks; if each phrased them itself they
would drift apart, and the raw Great Expectations vocabulary (`expect_column_values_to_be_between
band_position {'min_value': -1.0, …`) means nothing to a seller. Every surface calls
`finding(check)` (or `render(check)` for the sentence alone) and may show `Finding.ge` as the
details behind it.

A check is either a `validation_results` row (as stored, or as `pipelines.web.reads` returns
it: `column_name`, `details` JSON with the expectation's kwargs, `kind`, `range_source`,
`previous`, `finding`) or the audit's own dict (`column`, `kwargs`, …); both are accepted.
The wording comes from `details.finding` (the key the suite gave the expectation, see
`expectations.suites`), else from the expectation's type, so rows stored before the key
existed still read as sentences. A sentence is never cut: callers that need it short show
fewer findings, not shorter ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from pipelines.config_accounts import DEFAULT_ACCOUNT, account_key
from pipelines.marketplaces import label

HELD_BACK, PUBLISHED = "held back", "published"
SHOWN_EXAMPLES = 5

# What a column is, for people.
COLUMN_WORDS = {
    "quantity_present": "units present", "quantity_reserved": "units reserved",
    "quantity_available": "units available", "warehouse_name": "warehouse name", "warehouse_id": "warehouse",
    "stock_type": "stock type", "sku": "SKU", "marketplace": "marketplace",
    "reported_present": "units present per the answer's totals", "landed_present": "units present per warehouse rows",
    "reported_reserved": "units reserved per the answer's totals", "landed_reserved": "units reserved per warehouse rows",
    "reported_available": "units available per the answer's totals",
    "landed_available": "units available per warehouse rows",
    "reported_total": "the report's own total", "landed_total": "the sum of its warehouses",
}


@dataclass(frozen=True)
class Finding:
    """One check for people: `text` is a whole sentence (or two); `ge` is what GE said."""

    marketplace: str
    kind: str  # "broken answer", "unusual move", "row check"
    severity: str  # "critical" (holds the publish back) or "warning"
    passed: bool
    text: str
    ge: dict[str, Any] = field(default_factory=dict)
    account: str = DEFAULT_ACCOUNT  # whose snapshot the check read

    @property
    def name(self) -> str:
        """The account as people see it (`ozon`, `ozon/acme`)."""
        return account_key(self.marketplace, self.account)

    @property
    def consequence(self) -> str:
        """What the check did to the sync: nothing, held the marketplace back, or warned."""
        if self.passed:
            return "passed"
        return f"{self.kind}, {HELD_BACK}" if self.severity == "critical" else f"{self.kind}, {PUBLISHED}"

    def line(self) -> str:
        """The sentence with its consequence, for one-line surfaces (CLI, mail, Dagster)."""
        return f"{self.text} ({self.consequence})"


# -- numbers in words -------------------------------------------------------------------------
def number(value: Any) -> str:
    """12345.0 -> "12,345"; 0.5 -> "0.5"."""
    if value is None:
        return "?"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{f:,.0f}" if f == int(f) or abs(f) >= 100 else f"{f:,.1f}"


def percent(share: float) -> str:
    """0.123 -> "12 %"; 0.004 -> "0.4 %" (no sign)."""
    p = round(abs(share) * 100, 1)
    return f"{p:.0f} %" if p >= 9.5 or p == int(p) else f"{p:.1f} %"


def signed_percent(share: float) -> str:
    return ("+" if share >= 0 else "−") + percent(share)


def moved(share: float) -> str:
    """"rose 12 %", "fell 3 %", "did not change"."""
    if abs(share) < 0.0005:
        return "did not change"
    return f"{'rose' if share > 0 else 'fell'} {percent(share)}"


HISTORY = re.compile(r"history of (\d+) changes: median ([+-]?[\d.]+)%, spread ([\d.]+)%, (band ±|drop beyond )([\d.]+)%")
DEFAULT = re.compile(r"default [±-]?([\d.]+)% \(history holds (\d+) of the (\d+) changes needed\)")


def why_range(source: str | None) -> str:
    """Where a range came from, in words: `expectations.bounds` writes these two shapes."""
    if not source:
        return ""
    found = HISTORY.search(source)
    if found:
        return f"from the last {int(found.group(1)) + 1} syncs"
    found = DEFAULT.search(source)
    if found:
        have, need = int(found.group(2)), int(found.group(3))
        return (f"the default, as the history holds {have} of the {need} sync-to-sync changes needed "
                "to learn this account's own range")
    return source


def band_words(low: float, high: float) -> str:
    """A relative band: "±10 %" when symmetric, else "−8 % to +12 %"."""
    if abs(low + high) < 0.005:
        return f"±{percent(high)}"
    return f"{signed_percent(low)} to {signed_percent(high)}"


# -- reading a check ---------------------------------------------------------------------------
def _json(value: Any, default: Any = None) -> Any:
    if value in (None, ""):
        return default
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _float(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class _Check:
    marketplace: str
    suite: str
    expectation: str
    column: str | None
    severity: str
    kind: str
    passed: bool
    observed: Any
    unexpected_count: int
    examples: list[Any]
    kwargs: dict[str, Any]
    range_source: str | None
    previous: float | None
    key: str


def _read(check: Mapping[str, Any], marketplace: str | None = None) -> _Check:
    details = _json(check.get("details"), {}) or {}
    if not isinstance(details, dict):
        details = {}
    kwargs = dict(check.get("kwargs") or {}) or {k: v for k, v in details.items()
                                                 if k not in ("kind", "range_source", "previous", "finding")}
    expectation = str(check.get("expectation") or "")
    kind = check.get("kind") or details.get("kind") or ""
    if not kind:
        from expectations.suites import SUITE_KINDS

        kind = SUITE_KINDS.get(str(check.get("suite")), "check")
    examples = _json(check.get("unexpected_values"), []) or []
    return _Check(
        marketplace=str(marketplace or check.get("marketplace") or ""),
        suite=str(check.get("suite") or ""),
        expectation=expectation,
        column=check.get("column_name", check.get("column")),
        severity=str(check.get("severity") or "warning"),
        kind=str(kind),
        passed=bool(check.get("success")),
        observed=_json(check.get("observed_value")),
        unexpected_count=int(check.get("unexpected_count") or 0),
        examples=examples if isinstance(examples, list) else [examples],
        kwargs=kwargs,
        range_source=check.get("range_source") or details.get("range_source"),
        previous=_float(check.get("previous", details.get("previous"))),
        key=str(check.get("finding") or details.get("finding") or ""),
    )


def _example(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(str(v) for k, v in value.items() if k not in ("change", "source", "band_position"))
    return str(value)


def _examples(c: _Check) -> str:
    shown = [_example(v) for v in c.examples[:SHOWN_EXAMPLES]]
    if not shown:
        return ""
    more = c.unexpected_count - len(shown)
    return ", e.g. " + "; ".join(shown) + (f" and {more} more" if more > 0 else "")


# -- the sentences -----------------------------------------------------------------------------
def _total_move(c: _Check, what: str) -> str:
    """Units or stocked items against the band around the previous sync's figure."""
    who = label(c.marketplace)
    now = _float(c.observed)
    low, high = _float(c.kwargs.get("min_value")), _float(c.kwargs.get("max_value"))
    why = why_range(c.range_source)
    verdict = "within" if c.passed else "outside"
    if c.previous and now is not None and low is not None and high is not None:
        change = now / c.previous - 1
        text = (f"{who} {what} {moved(change)} since the last sync ({number(c.previous)} → {number(now)}); "
                f"{verdict} the usual range {band_words(low / c.previous - 1, high / c.previous - 1)}")
    elif low is None and high is None:
        text = f"{who} {what}: {number(now)} now, {verdict} the usual range"
    else:
        bounds = f"{number(low)}–{number(high)}" if high is not None else f"at least {number(low)}"
        text = f"{who} {what}: {number(now)} now; {verdict} the usual range {bounds}"
    return text + (f", {why}." if why else ".")


def _units_collapse(c: _Check) -> str:
    who = label(c.marketplace)
    now, floor = _float(c.observed), _float(c.kwargs.get("min_value"))
    prev = f" from {number(c.previous)}" if c.previous else ""
    change = f" ({moved(now / c.previous - 1)})" if c.previous and now is not None else ""
    found = HISTORY.search(c.range_source or "") or DEFAULT.search(c.range_source or "")
    if c.passed:
        head = f"{who} units did not collapse: {number(now)} now{prev and ', ' + prev.strip()}{change}"
    else:
        head = f"{who} units collapsed{prev} to {number(now)}{change}"
    rule = f"; a broken answer is below {number(floor)} units"
    if found is not None and found.re is HISTORY:
        rule += (f": a drop beyond {found.group(5)} %, far from anything in the last {int(found.group(1)) + 1} syncs, "
                 "and of at least INVSYNC_CRITICAL_DROP_UNITS units")
    elif found is not None:
        rule += f": a drop beyond the default {found.group(1)} % and of at least INVSYNC_CRITICAL_DROP_UNITS units"
    return head + rule + "."


def _warehouse_moves(c: _Check) -> str:
    who = label(c.marketplace)
    if c.passed:
        return f"{who}: every warehouse's units moved within its usual range."
    parts = []
    for row in c.examples[:SHOWN_EXAMPLES]:
        if not isinstance(row, dict):
            parts.append(str(row))
            continue
        change = _float(row.get("change"))
        why = why_range(row.get("source"))
        band = HISTORY.search(str(row.get("source") or "")) or DEFAULT.search(str(row.get("source") or ""))
        usual = ""
        if band is not None and band.re is HISTORY:
            usual = f"usual range ±{band.group(5)} %"
        elif band is not None:
            usual = f"usual range ±{band.group(1)} %"
        parts.append(f"{row.get('warehouse')} {moved(change) if change is not None else 'moved'}"
                     + (f" ({usual}, {why})" if usual else (f" ({why})" if why else "")))
    count = c.unexpected_count or len(c.examples)
    more = count - len(parts)
    noun = "warehouse" if count == 1 else "warehouses"
    return (f"{who}: {count} {noun} moved more than usual since the last sync: " + "; ".join(parts)
            + (f"; and {more} more" if more > 0 else "") + ".")


def _catalog(c: _Check) -> str:
    who = label(c.marketplace) + ("'" if label(c.marketplace).endswith("s") else "'s")
    now = _float(c.observed)
    low, high = _float(c.kwargs.get("min_value")), _float(c.kwargs.get("max_value"))
    source = c.range_source or ""
    if c.key == "catalog_empty" or (low == 1 and high is None and "listed" in source and "DROP" not in source):
        if c.passed:
            return f"{who} catalog listing is not empty ({number(now)} products)."
        return f"{who} catalog listing came back empty, while {source.replace('the account', 'the account had')}."
    if c.key == "api_count" or source.startswith("the API's own "):  # rows stored before the key: by the message
        verdict = "matches" if c.passed else "does not match"
        return (f"{label(c.marketplace)}: {number(now)} products landed, which {verdict} the API's own count "
                f"(allowed {number(low)}–{number(high)}; {source}).")
    verdict = "at least" if c.passed else "fewer than"
    return f"{who} catalog lists {number(now)} products, {verdict} the {number(low)} allowed ({source})."


def _pair_sums(c: _Check) -> str:
    who = label(c.marketplace)
    a = COLUMN_WORDS.get(str(c.kwargs.get("column_A")), c.kwargs.get("column_A"))
    b = COLUMN_WORDS.get(str(c.kwargs.get("column_B")), c.kwargs.get("column_B"))
    mostly = _float(c.kwargs.get("mostly"))
    allowed = f"; up to {percent(1 - mostly)} may differ" if mostly is not None and mostly < 1 else ""
    source = f" ({c.range_source})" if c.range_source else ""
    if c.passed and not c.unexpected_count:
        return f"{who}: {a} equal {b} everywhere{source}."
    return (f"{who}: {a} differ from {b} for {c.unexpected_count} items{_examples(c)}{allowed}{source}.")


# expectation -> (what the failing rows have, what every row has when it passes)
ROW_RULES = {
    "expect_column_values_to_not_be_null": ("have no {column}", "every row has a {column}"),
    "expect_column_values_to_be_in_set": ("have a {column} outside the known ones ({values})",
                                          "every {column} is a known one"),
    "expect_column_values_to_be_between": ("have {bounds} {column}", "no row has {bounds} {column}"),
    "expect_column_value_lengths_to_be_between": ("have an empty {column}", "no row has an empty {column}"),
    "expect_column_values_to_not_match_regex": ("have a {column} matching {regex}", "no {column} matches {regex}"),
}


def _row_rule(c: _Check) -> str:
    who = label(c.marketplace)
    column = COLUMN_WORDS.get(str(c.column), str(c.column or "value"))
    if c.expectation == "expect_column_values_to_not_match_regex" and c.kwargs.get("regex") == "^chrt:":
        if c.passed or not c.unexpected_count:
            return f"{who}: every size has a barcode from its product card."
        return (f"{who}: {c.unexpected_count} sizes have no barcode on any product card, so they are "
                f"published as chrt:<size id>{_examples(c)}.")
    low, high = c.kwargs.get("min_value"), c.kwargs.get("max_value")
    bounds = "negative" if low == 0 and high is None else f"outside {number(low)}–{number(high)}"
    values = ", ".join(str(v) for v in (c.kwargs.get("value_set") or [])[:10])
    failing, passing = ROW_RULES[c.expectation]
    words = {"column": column, "bounds": bounds, "values": values, "regex": c.kwargs.get("regex")}
    mostly = _float(c.kwargs.get("mostly"))
    allowed = f" (up to {percent(1 - mostly)} of rows may)" if mostly is not None and mostly < 1 else ""
    if c.passed and not c.unexpected_count:
        return f"{who}: {passing.format(**words)}."
    return f"{who}: {c.unexpected_count} rows {failing.format(**words)}{allowed}{_examples(c)}."


def _generic(c: _Check) -> str:
    """Any other expectation: its name in words, the value and the range, all of it."""
    who = label(c.marketplace)
    name = c.expectation.removeprefix("expect_").replace("_", " ")
    column = f" ({COLUMN_WORDS.get(str(c.column), c.column)})" if c.column else ""
    bounds = {k: v for k, v in c.kwargs.items() if k in ("min_value", "max_value", "value")}
    text = f"{who}: {name}{column} {'held' if c.passed else 'failed'}"
    if c.observed is not None and not isinstance(c.observed, (dict, list)):
        text += f"; observed {number(c.observed)}"
    if bounds:
        text += "; expected " + ", ".join(f"{k.replace('_value', '')} {number(v)}" for k, v in bounds.items())
    if c.unexpected_count:
        text += f"; {c.unexpected_count} unexpected{_examples(c)}"
    if c.range_source:
        text += f" ({c.range_source})"
    return text + "."


def _sentence(c: _Check) -> str:
    if c.suite == "inventory_warehouse_moves" or c.key == "warehouse_move":
        return _warehouse_moves(c)
    if c.key == "units_collapse" or (c.suite == "inventory_broken_answers"
                                     and c.expectation == "expect_column_sum_to_be_between"):
        return _units_collapse(c)
    if c.key == "units_move" or (c.suite == "inventory_moves" and c.expectation == "expect_column_sum_to_be_between"):
        return _total_move(c, "units")
    if c.key == "items_move" or (c.suite == "inventory_moves"
                                 and c.expectation == "expect_table_row_count_to_be_between"):
        return _total_move(c, "stocked items")
    if c.expectation == "expect_table_row_count_to_be_between":
        return _catalog(c)
    if c.expectation == "expect_column_pair_values_to_be_equal":
        return _pair_sums(c)
    if c.expectation in ROW_RULES and c.column:
        return _row_rule(c)
    return _generic(c)


def _ge(c: _Check) -> dict[str, Any]:
    """The Great Expectations details behind the sentence (shown one click away)."""
    out: dict[str, Any] = {"suite": c.suite, "expectation": c.expectation, "severity": c.severity}
    if c.column:
        out["column"] = c.column
    out.update({k: v for k, v in c.kwargs.items() if v is not None})
    out["observed_value"] = c.observed
    if c.unexpected_count:
        out["unexpected_count"] = c.unexpected_count
        out["unexpected_examples"] = c.examples[:10]
    if c.range_source:
        out["range_source"] = c.range_source
    if c.previous is not None:
        out["previous"] = c.previous
    return out


def finding(check: Mapping[str, Any], marketplace: str | None = None) -> Finding:
    """One check (a validation_results row, or the audit's dict with `marketplace` given:
    the audit keeps it on the outcome, not on each check) for people."""
    c = _read(check, marketplace)
    try:
        text = _sentence(c)
    except (TypeError, ValueError, ZeroDivisionError, AttributeError):  # odd stored values: still say it whole
        text = _generic(c)
    return Finding(c.marketplace, c.kind, c.severity, c.passed, text, _ge(c),
                   str(check.get("account") or DEFAULT_ACCOUNT))


def render(check: Mapping[str, Any], marketplace: str | None = None) -> str:
    """The plain-words sentence of one check."""
    return finding(check, marketplace).text


def failed(checks: Iterable[Mapping[str, Any]]) -> list[Finding]:
    """The failed checks in plain words, broken answers first."""
    out = [finding(c) for c in checks if not bool(c.get("success"))]
    return sorted(out, key=lambda f: (f.severity != "critical", f.marketplace))


CHECK_MESSAGE = re.compile(r"^(broken answer|unusual move|row check): ")


def is_check_message(text: str) -> bool:
    """A sync_logs warning or error line that the audit wrote for a check (shown as a finding instead)."""
    return bool(CHECK_MESSAGE.match(text or ""))
