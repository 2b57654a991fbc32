"""The ordered list of migrations. Append new ones; never edit one that has shipped.

Each step has SQL for `up` and `down` per dialect (`duckdb`, `mysql`). Steps must be
idempotent on their own (IF NOT EXISTS / IF EXISTS) so a half-applied step can be re-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pipelines.warehouse import Warehouse

SqlFor = Callable[[Warehouse], list[str]]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    up: SqlFor
    down: SqlFor


def _sync_logs_up(wh: Warehouse) -> list[str]:
    if wh.dialect == "duckdb":
        return [
            "create sequence if not exists sync_logs_id_seq",
            """create table if not exists sync_logs (
                id bigint primary key default nextval('sync_logs_id_seq'),
                run_id varchar(36) not null,
                marketplace varchar(16) not null,
                sync_type varchar(16) not null,
                status varchar(16) not null,
                started_at timestamp not null,
                finished_at timestamp,
                duration_seconds double,
                api_requests integer default 0,
                retries integer default 0,
                records_fetched bigint default 0,
                records_written bigint default 0,
                records_rejected bigint default 0,
                load_id varchar(64),
                error_message varchar,
                warnings varchar,
                details varchar
            )""",
        ]
    return [
        """create table if not exists sync_logs (
            id bigint not null auto_increment primary key,
            run_id varchar(36) not null,
            marketplace varchar(16) not null,
            sync_type varchar(16) not null,
            status varchar(16) not null,
            started_at datetime(6) not null,
            finished_at datetime(6) null,
            duration_seconds double null,
            api_requests int default 0,
            retries int default 0,
            records_fetched bigint default 0,
            records_written bigint default 0,
            records_rejected bigint default 0,
            load_id varchar(64) null,
            error_message text null,
            warnings text null,
            details text null,
            key ix_sync_logs_marketplace_started (marketplace, started_at)
        )""",
    ]


def _sync_logs_down(wh: Warehouse) -> list[str]:
    stmts = ["drop table if exists sync_logs"]
    if wh.dialect == "duckdb":
        stmts.append("drop sequence if exists sync_logs_id_seq")
    return stmts


def _validation_results_up(wh: Warehouse) -> list[str]:
    text = "varchar" if wh.dialect == "duckdb" else "text"
    ts = "timestamp" if wh.dialect == "duckdb" else "datetime(6)"
    boolean = "boolean" if wh.dialect == "duckdb" else "tinyint(1)"
    tail = ""
    return [
        f"""create table if not exists validation_results (
            run_id varchar(36) not null,
            marketplace varchar(16) not null,
            suite varchar(64) not null,
            expectation varchar(128) not null,
            column_name varchar(128),
            severity varchar(16) not null,
            success {boolean} not null,
            observed_value {text},
            unexpected_count bigint,
            unexpected_values {text},
            details {text},
            validated_at {ts} not null
        ){tail}""",
    ]


MIGRATIONS: list[Migration] = [
    Migration(1, "create sync_logs (one row per marketplace per sync)", _sync_logs_up, _sync_logs_down),
    Migration(2, "create validation_results (expectation outcomes per sync)", _validation_results_up,
              lambda wh: ["drop table if exists validation_results"]),
]
