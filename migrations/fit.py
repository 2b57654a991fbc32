"""Whether rows fit a table: the checks that decide, before anything is changed, if every
row a copy would write can be held by its target (NOT NULL, enum values, lengths, integer
ranges, unique keys), and name the rows that cannot.

Its own module because both directions of an adoption ask it the same question of different
shapes (legacy rows into the product's table on `up`, the product's rows back into the recorded
legacy table on `down`), and a step must refuse on its answer before it changes anything.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from migrations.introspection import lit, q, query
from pipelines.warehouse import Warehouse


_INT_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "integer": 32, "bigint": 64}


def spec_columns(spec: Sequence[tuple[str, str, bool]]) -> list[dict[str, Any]]:
    """(name, column type, nullable) -> the information_schema-like dicts the checks use."""
    out = []
    for name, column_type, nullable in spec:
        m = re.match(r"(\w+)(?:\((\d+)\))?", column_type)
        assert m, column_type
        data_type = m.group(1).lower()
        out.append({
            "name": name, "data_type": data_type, "column_type": column_type,
            "is_nullable": "YES" if nullable else "NO",
            "max_length": int(m.group(2)) if data_type in ("char", "varchar") and m.group(2) else None,
            "extra": "auto_increment" if "auto_increment" in column_type else "",
        })
    return out


def is_generated(col: dict[str, Any]) -> bool:
    extra = str(col.get("extra") or "").lower()
    return "virtual generated" in extra or "stored generated" in extra or "persistent" in extra


def _enum_values(column_type: str) -> list[str]:
    return [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", column_type)]


def _column_conditions(col: dict[str, Any]) -> list[tuple[str, str]]:
    """(SQL condition over `m`.`name` that marks a row the column cannot hold, what it means)."""
    c = f"m.{q(col['name'])}"
    conds: list[tuple[str, str]] = []
    if col["is_nullable"] == "NO" and "auto_increment" not in col["extra"] and not is_generated(col):
        conds.append((f"{c} is null", "would be NULL, but the column is NOT NULL"))
    dt = col["data_type"]
    if dt == "enum":
        values = ", ".join(lit(v) for v in _enum_values(col["column_type"]))
        conds.append((f"{c} is not null and {c} not in ({values})", "hold values the column cannot hold"))
    elif dt in ("char", "varchar") and col.get("max_length"):
        conds.append((f"char_length({c}) > {int(col['max_length'])}", f"are longer than {col['max_length']} characters"))
    elif dt in _INT_BITS:
        bits = _INT_BITS[dt]
        lo, hi = (0, 2 ** bits - 1) if "unsigned" in col["column_type"].lower() else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        conds.append((
            f"{c} is not null and (cast({c} as char) not regexp '^[-+]?[0-9]+([.][0-9]+)?$' "
            f"or cast({c} as decimal(65, 0)) not between {lo} and {hi})",
            "hold values that are not whole numbers in range",
        ))
    return conds


def fit_problems(
    wh: Warehouse,
    label: str,
    rows_sql: str,
    target: Sequence[dict[str, Any]],
    unique_keys: Sequence[tuple[str, Sequence[str]]],
    shape: str,
    conn: Any = None,
) -> list[str]:
    """What in `rows_sql` (already mapped to the target's column names) the target cannot hold."""
    selected = {c["name"] for c in target}
    checks = [(col, cond, meaning) for col in target for cond, meaning in _column_conditions(col)]
    problems: list[str] = []
    if checks:
        sums = ", ".join(f"sum(case when {cond} then 1 else 0 end) as c{i}" for i, (_, cond, _) in enumerate(checks))
        counts = query(wh, f"select {sums} from ({rows_sql}) m", conn)[0]
        for i, (col, cond, meaning) in enumerate(checks):
            n = int(counts[f"c{i}"] or 0)
            if not n:
                continue
            sample = query(wh, f"select distinct m.{q(col['name'])} as v from ({rows_sql}) m where {cond} limit 3", conn)
            shown = ", ".join(repr(r["v"]) for r in sample)
            problems.append(
                f"{label}.{col['name']}: {n} row(s) {meaning} ({shape} column `{col['name']}` {col['column_type']}), e.g. {shown}"
            )
    for name, key in unique_keys:
        if not set(key) <= selected:
            continue
        cols = ", ".join(f"m.{q(k)}" for k in key)
        not_null = " and ".join(f"m.{q(k)} is not null" for k in key)
        dups = query(
            wh, f"select {cols}, count(*) as n from ({rows_sql}) m where {not_null} group by {cols} having count(*) > 1", conn,
        )
        if dups:
            sample = "; ".join(str(tuple(d[k] for k in key)) for d in dups[:3])
            problems.append(
                f"{label}: {len(dups)} value(s) of the {shape} unique key {name} ({', '.join(key)}) would repeat, e.g. {sample}"
            )
    return problems
