"""What a migration step is and what it hands the runner: `Migration`, `Plan`, `DropTable`, `MigrationRefused`.

Its own module because every other part of the package speaks these types (the versions return
plans, the adoption engine builds them and refuses with `MigrationRefused`, the runner executes
them) and none of them should depend on another just to get at the vocabulary.

Each step has `up` and `down` functions of the warehouse (dialect `duckdb` or `mysql`) that
return the SQL to run, either as a plain list of statements or as a `Plan` (statements and
checks, plus notes for the report). A step refuses (`MigrationRefused`, nothing changed) when
the data cannot be carried over; `check_up`/`check_down` let the runner find such problems for
every step of a run before it applies any of them. A `down` drops tables of the product's data
only through `DropTable`, which the runner counts, refuses or reports, and `down_losses` says
beforehand how many rows each table the step would drop holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, Union

from pipelines.warehouse import Warehouse


@dataclass(frozen=True)
class DropTable:
    """Drop a table of the product's data (sync history, validation results).

    The runner counts its rows inside the step's connection, refuses (dropping nothing) when
    it holds rows and the run was not allowed to drop data, and reports the count."""

    table: str


# A statement, a callable run with the plan's connection (a check, or SQL that depends on
# what an earlier statement of the same plan did), or a guarded drop.
Action = Union[str, Callable[[Warehouse, Any], None], DropTable]


@dataclass
class Plan:
    """What a step will run, and what it tells the operator (`MigrationReport`)."""

    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class MigrationRefused(RuntimeError):
    """A step cannot run without losing or corrupting data; nothing was changed by it."""

    def __init__(self, problems: Sequence[str], losses: dict[str, int] | None = None,
                 advice: Sequence[str] = ()):
        self.problems = list(problems)
        self.losses = dict(losses or {})  # table -> rows a `down` would drop (refused without drop_data)
        self.advice = list(advice)  # how to proceed
        self.report: Any = None  # the runner attaches what was done before the refusal
        super().__init__("; ".join(self.problems))


SqlFor = Callable[[Warehouse], Union[list[str], Plan]]
Check = Callable[[Warehouse], list[str]]
Losses = Callable[[Warehouse], dict[str, int]]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    up: SqlFor
    down: SqlFor
    check_up: Check | None = None  # problems that make `up` refuse (checked before any step runs)
    check_down: Check | None = None
    # Rows `down` would drop, per table, judged from the state before the run: rows a later step
    # of the same run restores elsewhere (migrations 3-4) and tables the step keeps are not losses.
    down_losses: Losses | None = None
