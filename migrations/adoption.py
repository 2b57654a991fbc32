"""The adoption engine: carries a table a legacy importer left in MySQL into the product's
shape (`up`) and back to exactly its recorded legacy definition (`down`), rows and all.

Its own module because the mechanics are the same for every legacy table and are the delicate
part of the package: check every row first, record the legacy definition, copy into a scratch
table in strict mode, count, then swap with one atomic RENAME TABLE, so the live table is never
half-converted and an interrupted run is finished by running it again. What differs per table
(columns, mappings, keys) is data given to `Adoption`, see `migrations/legacy.py`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from migrations.fit import fit_problems, is_generated
from migrations.introspection import (
    backup_row, column_names, columns_of, count, indexes_of, lit, q, query, show_create, table_exists,
)
from migrations.plan import MigrationRefused, Plan
from migrations.specs import BACKUP_DDL, BACKUP_TABLE
from pipelines.marketplaces import MARKETPLACES
from pipelines.warehouse import Warehouse


# Copies between shapes run strict: a value that does not fit fails the statement instead of
# being truncated or zeroed. Zero dates are allowed (legacy importers wrote them).
STRICT_SESSION = "set session sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"

# The legacy importer's `source` values (the marketplaces' labels, and `Manual`) and the
# product's marketplaces; `inventory_data.source` keeps writing the labels (the dbt var).
SOURCE_TO_MARKETPLACE = {**{m.label: m.name for m in MARKETPLACES}, "Manual": "manual"}


def _case(expr: str, mapping: dict[str, str]) -> str:
    whens = " ".join(f"when {lit(k)} then {lit(v)}" for k, v in mapping.items())
    return f"case {expr} {whens} end"


def source_to_marketplace(expr: str) -> str:
    return _case(expr, SOURCE_TO_MARKETPLACE)


def marketplace_to_source(expr: str) -> str:
    return _case(expr, {v: k for k, v in SOURCE_TO_MARKETPLACE.items()})


@dataclass(frozen=True)
class Adoption:
    """Carries one legacy table into the product's shape (`up`) and back (`down`).

    Both directions copy into a scratch table, check, and swap with one atomic RENAME TABLE,
    so the live table is never half-converted; the legacy definition (SHOW CREATE TABLE,
    columns, indexes) is recorded in `schema_migration_backup` before anything changes, and
    `down` recreates the table from it: types, nullability, defaults, keys, charset, comment.
    """

    table: str
    version: int
    product_marker: str  # a column only the product's shape has
    legacy_columns: tuple[str, ...]  # every column the legacy importer's table may have
    required: tuple[str, ...]  # the columns that identify the legacy shape
    product_ddl: Callable[[str, dict[str, dict[str, Any]]], str]  # (scratch name, legacy columns) -> CREATE TABLE
    product_spec: Callable[[dict[str, dict[str, Any]]], list[dict[str, Any]]]  # columns the copy writes, for checks
    up_select: Callable[[dict[str, dict[str, Any]]], list[tuple[str, str]]]  # [(product column, expr over `l`)]
    up_after: Callable[[str, dict[str, dict[str, Any]]], list[str]]  # statements after the copy, per scratch name
    product_keys: Callable[[dict[str, dict[str, Any]]], list[tuple[str, list[str]]]]
    down_map: dict[str, tuple[str, str | None]]  # legacy column -> (expr over `a`, expr when NOT NULL)
    up_order: Callable[[dict[str, dict[str, Any]]], str]
    down_order: str
    collapse: tuple[str, str] | None  # (expr: row holds stock, tiebreak expr) for duplicates under the legacy key
    up_notes: Callable[[dict[str, dict[str, Any]]], list[str]]

    # ---- state
    @property
    def scratch_up(self) -> str:
        return f"{self.table}__adopt"

    @property
    def retired_legacy(self) -> str:
        return f"{self.table}__legacy_old"

    @property
    def scratch_down(self) -> str:
        return f"{self.table}__down"

    @property
    def retired_product(self) -> str:
        return f"{self.table}__adopted_old"

    def legacy_columns_of(self, wh: Warehouse, conn: Any = None) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in columns_of(wh, self.table, conn)}

    def state(self, wh: Warehouse, conn: Any = None) -> str:
        """missing | product | legacy | unknown (MySQL only)."""
        names = set(self.legacy_columns_of(wh, conn))
        if not names:
            return "missing"
        if self.product_marker in names:
            return "product"
        if set(self.required) <= names:
            return "legacy"
        return "unknown"

    # ---- up
    def _unknown_shape(self, wh: Warehouse) -> str:
        names = ", ".join(self.legacy_columns_of(wh))
        return (f"{self.table} exists but is neither the product's table nor the legacy importer's "
                f"(columns: {names}); rename it or convert it by hand, then run `invsync migrate up` again")

    def _up_rows_sql(self, legacy: dict[str, dict[str, Any]]) -> str:
        select = ", ".join(f"{expr} as {q(name)}" for name, expr in self.up_select(legacy))
        return f"select {select} from {q(self.table)} l"

    def adoption_problems(self, wh: Warehouse) -> list[str]:
        legacy = self.legacy_columns_of(wh)
        problems = []
        unknown = [c for c in legacy if c not in self.legacy_columns]
        if unknown:
            problems.append(
                f"{self.table}: columns {', '.join(unknown)} are not part of the legacy importer's table, so adopting it "
                f"would lose them; move them to another table first (known columns: {', '.join(self.legacy_columns)})"
            )
        fks = wh.query(
            "select constraint_name as name, table_name as t from information_schema.key_column_usage "
            "where table_schema = %s and referenced_table_name is not null and (table_name = %s or referenced_table_name = %s)",
            (wh.schema, self.table, self.table),
        )
        if fks:
            problems.append(f"{self.table}: foreign keys {sorted({f['name'] for f in fks})} point to or from it; "
                            "drop them first (the table is rebuilt under the same name)")
        triggers = wh.query(
            "select trigger_name as name from information_schema.triggers where event_object_schema = %s and event_object_table = %s",
            (wh.schema, self.table),
        )
        if triggers:
            problems.append(f"{self.table}: triggers {[t['name'] for t in triggers]} would be lost; drop them first")
        unmapped = query(
            wh, f"select distinct source as v from {q(self.table)} where {source_to_marketplace('source')} is null limit 5"
        )
        if unmapped:
            problems.append(f"{self.table}: `source` values {[r['v'] for r in unmapped]} have no marketplace "
                            f"(known: {', '.join(f'{k}->{v}' for k, v in SOURCE_TO_MARKETPLACE.items())})")
        if problems:
            return problems
        written = {name for name, _ in self.up_select(legacy)}
        target = [c for c in self.product_spec(legacy) if c["name"] in written]
        return fit_problems(wh, self.table, self._up_rows_sql(legacy), target, self.product_keys(legacy), "product")

    def check_up(self, wh: Warehouse) -> list[str]:
        if wh.dialect != "mysql":
            return []
        state = self.state(wh)
        if state == "unknown":
            return [self._unknown_shape(wh)]
        return self.adoption_problems(wh) if state == "legacy" else []

    def up(self, wh: Warehouse) -> Plan:
        if wh.dialect != "mysql":
            return Plan([], [f"{self.table}: nothing to adopt on {wh.dialect} (legacy tables live in MySQL)"])
        state = self.state(wh)
        plan = Plan()
        if state == "unknown":
            raise MigrationRefused([self._unknown_shape(wh)])
        if state in ("missing", "product"):
            if table_exists(wh, self.scratch_up):
                plan.actions.append(f"drop table if exists {q(self.scratch_up)}")
                plan.notes.append(f"{self.scratch_up}: dropped the scratch table of an interrupted run")
            if table_exists(wh, self.retired_legacy):
                if state == "product" and backup_row(wh, self.table) is not None:
                    # The swap happened (atomically) and the legacy definition is recorded.
                    plan.actions.append(f"drop table if exists {q(self.retired_legacy)}")
                    plan.notes.append(f"{self.retired_legacy}: dropped the legacy table an interrupted run had already copied")
                else:
                    plan.notes.append(f"{self.retired_legacy}: left alone (no recorded adoption explains it)")
            if not plan.notes:
                plan.notes.append(
                    f"{self.table}: already the product's table — nothing to adopt" if state == "product"
                    else f"{self.table}: no legacy table — nothing to adopt"
                )
            return plan
        problems = self.adoption_problems(wh)
        if problems:
            raise MigrationRefused(problems)

        legacy = self.legacy_columns_of(wh)
        legacy_indexes = indexes_of(wh, self.table)
        n_rows = count(wh, f"select 1 from {q(self.table)}")
        mapping = self.up_select(legacy)
        targets = ", ".join(q(name) for name, _ in mapping)
        exprs = ", ".join(expr for _, expr in mapping)

        def record_backup(wh: Warehouse, conn: Any) -> None:
            wh.execute(conn, BACKUP_DDL)
            wh.execute(
                conn,
                f"replace into {BACKUP_TABLE} (table_name, version, create_statement, columns_json, indexes_json, "
                "row_count, recorded_at) values (%s, %s, %s, %s, %s, %s, current_timestamp(6))",
                (self.table, self.version, show_create(wh, self.table, conn),
                 json.dumps(columns_of(wh, self.table, conn), default=str),
                 json.dumps(indexes_of(wh, self.table, conn)), n_rows),
            )

        def verify_copy(wh: Warehouse, conn: Any) -> None:
            before = count(wh, f"select 1 from {q(self.table)}", conn)
            after = count(wh, f"select 1 from {q(self.scratch_up)}", conn)
            if before != after:
                raise RuntimeError(f"{self.table}: copied {after} of {before} rows (is the legacy importer still "
                                   "writing?); nothing was swapped, run `invsync migrate up` again")

        plan.actions = [
            STRICT_SESSION,
            record_backup,  # before anything changes
            f"drop table if exists {q(self.scratch_up)}",
            self.product_ddl(self.scratch_up, legacy),
            f"insert into {q(self.scratch_up)} ({targets}) select {exprs} from {q(self.table)} l {self.up_order(legacy)}",
            *self.up_after(self.scratch_up, legacy),
            verify_copy,
            f"rename table {q(self.table)} to {q(self.retired_legacy)}, {q(self.scratch_up)} to {q(self.table)}",
            f"drop table {q(self.retired_legacy)}",
            lambda wh, conn: plan.notes.insert(
                -1, f"  keys now: {'; '.join(_describe_index(i) for i in indexes_of(wh, self.table, conn))}"),
        ]
        new_columns = {c["name"]: c for c in self.product_spec(legacy)}
        added = [n for n in new_columns if n not in legacy]
        changed = [
            f"{n} {legacy[n]['column_type']}{'' if legacy[n]['is_nullable'] == 'YES' else ' not null'} -> {new_columns[n]['column_type']}"
            for n in new_columns if n in legacy and (
                legacy[n]["column_type"].lower() != new_columns[n]["column_type"].lower()
                or legacy[n]["is_nullable"] != new_columns[n]["is_nullable"])
        ]
        plan.notes = [
            f"{self.table}: adopted the legacy table — {n_rows} rows kept (copied, counted, swapped atomically)",
            *(f"  {line}" for line in self.up_notes(legacy)),
            f"  columns added: {', '.join(added) or '-'}",
            f"  columns changed: {'; '.join(changed) or '-'}",
            f"  legacy keys replaced: {'; '.join(_describe_index(i) for i in legacy_indexes) or '-'}",
            f"  legacy definition saved in {BACKUP_TABLE}; `invsync migrate down` restores it",
        ]
        return plan

    # ---- down
    def _down_columns(self, backup: dict[str, Any]) -> list[dict[str, Any]]:
        """The legacy columns the copy back writes (generated columns compute themselves)."""
        return [c for c in backup["columns"] if not is_generated(c)]

    def _legacy_keys(self, backup: dict[str, Any]) -> list[tuple[str, list[str]]]:
        return [(i["name"], i["columns"]) for i in backup["indexes"] if i["unique"]]

    def _down_rows_sql(self, backup: dict[str, Any]) -> tuple[str, str]:
        """(every adopted row mapped to the legacy columns, the same after merging zero duplicates)."""
        cols = self._down_columns(backup)
        parts = []
        for col in cols:
            expr, not_null_expr = self.down_map[col["name"]]
            if col["is_nullable"] == "NO" and not_null_expr:
                expr = not_null_expr
            parts.append(f"{expr} as {q(col['name'])}")
        names = ", ".join(f"x.{q(c['name'])}" for c in cols)
        if self.collapse is None:
            mapped = f"select {', '.join(parts)} from {q(self.table)} a"
            return mapped, mapped
        holds, tiebreak = self.collapse
        mapped = f"select {', '.join(parts)}, ({holds}) as holds__, {tiebreak} as tiebreak__ from {q(self.table)} a"
        keys = self._legacy_keys(backup)
        if not keys:
            return mapped, f"select {names} from ({mapped}) x"
        partition = ", ".join(f"m.{q(k)}" for k in keys[0][1])
        final = (
            f"select {names} from (select m.*, row_number() over (partition by {partition} "
            f"order by m.holds__ desc, m.tiebreak__ desc) as rn__ from ({mapped}) m) x where x.rn__ = 1"
        )
        return mapped, final

    def restore_problems(self, wh: Warehouse, backup: dict[str, Any]) -> list[str]:
        cols = self._down_columns(backup)
        problems = []
        unmapped = query(
            wh, f"select distinct marketplace as v from {q(self.table)} where {marketplace_to_source('marketplace')} is null limit 5"
        )
        if unmapped:
            problems.append(f"{self.table}: marketplace values {[r['v'] for r in unmapped]} have no legacy `source` value")
        mapped, final = self._down_rows_sql(backup)
        keys = self._legacy_keys(backup)
        if self.collapse is not None and keys:
            key = keys[0][1]
            by = ", ".join(f"m.{q(k)}" for k in key)
            clash = query(
                wh, f"select {by}, count(*) as n from ({mapped}) m group by {by} having count(*) > 1 and sum(m.holds__) > 1"
            )
            if clash:
                sample = "; ".join(str(tuple(r[k] for k in key)) for r in clash[:3])
                problems.append(
                    f"{self.table}: {len(clash)} legacy key value(s) ({', '.join(key)}) would hold more than one row "
                    f"with stock (e.g. {sample}); the legacy table keeps one row per key"
                )
        problems += fit_problems(wh, self.table, final, cols, keys, "legacy")
        return problems

    def check_down(self, wh: Warehouse) -> list[str]:
        if wh.dialect != "mysql":
            return []
        backup = backup_row(wh, self.table)
        if backup is None or self.state(wh) != "product":
            return []
        return self.restore_problems(wh, backup)

    def down(self, wh: Warehouse) -> Plan:
        if wh.dialect != "mysql":
            return Plan([], [f"{self.table}: nothing to restore on {wh.dialect}"])
        backup = backup_row(wh, self.table)
        plan = Plan()
        if table_exists(wh, self.scratch_down):
            plan.actions.append(f"drop table if exists {q(self.scratch_down)}")
            plan.notes.append(f"{self.scratch_down}: dropped the scratch table of an interrupted run")
        if backup is None:
            plan.notes.append(f"{self.table}: was not adopted from a legacy table — nothing to restore")
            plan.actions.append(_drop_backup_table_if_empty)
            return plan
        state = self.state(wh)
        create = re.sub(r"^CREATE TABLE `[^`]+`", f"CREATE TABLE {q(self.scratch_down)}",
                        backup["create_statement"], count=1)
        forget = [f"delete from {BACKUP_TABLE} where table_name = {lit(self.table)}", _drop_backup_table_if_empty]
        if state == "missing":
            plan.actions += [create.replace(q(self.scratch_down), q(self.table), 1), *forget]
            plan.notes.append(f"{self.table}: was missing; recreated the legacy table (empty) from {BACKUP_TABLE}")
            return plan
        if state != "product":
            # The swap back happened; only the bookkeeping is left.
            plan.actions += [f"drop table if exists {q(self.retired_product)}", *forget]
            plan.notes.append(f"{self.table}: already the legacy table; finished an interrupted run")
            return plan
        problems = self.restore_problems(wh, backup)
        if problems:
            raise MigrationRefused(problems)

        cols = self._down_columns(backup)
        mapped, final = self._down_rows_sql(backup)
        n_all, n_final = count(wh, mapped), count(wh, final)
        names = ", ".join(q(c["name"]) for c in cols)

        def verify_copy(wh: Warehouse, conn: Any) -> None:
            want = count(wh, final, conn)
            got = count(wh, f"select 1 from {q(self.scratch_down)}", conn)
            if want != got:
                raise RuntimeError(f"{self.table}: copied {got} of {want} rows back; nothing was swapped, run down again")

        plan.actions += [
            STRICT_SESSION,
            f"drop table if exists {q(self.scratch_down)}",
            create,
            f"insert into {q(self.scratch_down)} ({names}) select {names} from ({final}) f {self.down_order}",
            verify_copy,
            f"rename table {q(self.table)} to {q(self.retired_product)}, {q(self.scratch_down)} to {q(self.table)}",
            f"drop table {q(self.retired_product)}",
            *forget,
        ]
        product_only = [c for c in column_names(wh, self.table) if c not in {c["name"] for c in backup["columns"]}]
        plan.notes = [
            f"{self.table}: restored the legacy definition recorded at {backup['recorded_at']} — {n_final} rows copied back",
            "  legacy NOT NULL columns of rows the product wrote were filled from the new ones "
            "(source from marketplace, dates from the sync times, counts 0 where unknown)",
            f"  columns the legacy table has no place for were dropped: {', '.join(product_only) or '-'}",
        ]
        if n_all != n_final:
            plan.notes.append(f"  {n_all - n_final} zero-quantity row(s) merged into the row with stock under the same legacy key")
        return plan


def _describe_index(i: dict[str, Any]) -> str:
    kind = "PRIMARY KEY" if i["name"] == "PRIMARY" else ("UNIQUE " if i["unique"] else "KEY ") + i["name"]
    return f"{kind} ({', '.join(i['columns'])})"


def _drop_backup_table_if_empty(wh: Warehouse, conn: Any) -> None:
    if table_exists(wh, BACKUP_TABLE, conn) and not count(wh, f"select 1 from {BACKUP_TABLE}", conn):
        wh.execute(conn, f"drop table {BACKUP_TABLE}")
