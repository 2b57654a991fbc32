"""The one place that reads configuration.

Everything the product needs to know about its environment comes from environment variables
(optionally set by a `.env` file), is validated here once, and is handed to the code that
needs it as a frozen `Settings` object. Nothing else reads `os.environ` for these names, so
there is exactly one list of knobs and one set of error messages. A secret is declared as such
where its field is (`secret_field()`); the masking rule itself is `pipelines.masking`. The groups
of settings of one concern (the audit's thresholds, the freshness policy, e-mail, the web
service) and their readers live in `pipelines.config_sections`, re-exported here; the seller
accounts (INVSYNC_ACCOUNTS_FILE) in `pipelines.config_accounts`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import unquote, urlsplit

from pipelines.config_sections import (  # noqa: F401 - re-exported: `pipelines.config` is where settings come from
    DEFAULT_TIMEZONE,
    WEB_ROLES,
    ApiToken,
    CheckThresholds,
    ConfigError,
    FreshnessPolicy,
    SmtpSettings,
    WebSettings,
    _float,
    _flag,
    _int,
    _memory_size,
    _url,
    check_thresholds,
    freshness_policy,
    parse_api_tokens,
    schedule_timezone,
    smtp_settings,
    web_settings,
)
from pipelines.config_accounts import (  # noqa: F401 - re-exported with the rest of the configuration
    DEFAULT_ACCOUNT,
    Account,
    check_distinct,
    default_accounts,
    read_accounts_file,
)
from pipelines.marketplaces import MARKETPLACES, Marketplace, get
from pipelines.masking import is_secret, mask_secrets, mask_value, secret_field, secret_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_WAREHOUSE_URL = "duckdb:///data/inventory.duckdb"


@dataclass(frozen=True)
class WarehouseTarget:
    """Where the data goes, parsed from WAREHOUSE_URL."""

    kind: str  # "duckdb" or "mysql"
    path: Path | None = None  # duckdb file
    host: str = ""
    port: int = 3306
    user: str = ""
    password: str = secret_field()
    database: str = ""

    @property
    def is_duckdb(self) -> bool:
        return self.kind == "duckdb"

    def display(self) -> str:
        """A printable form with the password masked."""
        if self.is_duckdb:
            return f"duckdb:///{self.path}"
        secret = ":***" if self.password else ""
        return f"mysql://{self.user}{secret}@{self.host}:{self.port}/{self.database}"

    def work_dir(self, tool: str) -> Path:
        """The working folder `tool` ("dlt", "dbt") keeps for this warehouse, one per warehouse.

        dlt's state and packages, and dbt's target folder, belong to one warehouse: shared
        between warehouses, dbt would re-parse the whole project each time the warehouse
        changes (its partial parsing is keyed on the connection) and dlt would mix states.
        DuckDB: beside the file (`.dlt-inventory/`); MySQL: under `data/`.
        """
        if self.is_duckdb:
            assert self.path is not None
            return self.path.parent / f".{tool}-{self.path.stem}"
        return PROJECT_ROOT / "data" / f".{tool}-mysql-{self.host}-{self.port}-{self.database}"

    def sqlalchemy_url(self) -> str:
        """SQLAlchemy URL for dlt's `sqlalchemy` destination (MySQL) or a duckdb URL."""
        if self.is_duckdb:
            return f"duckdb:///{self.path}"
        from urllib.parse import quote

        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"mysql+pymysql://{auth}@{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Secrets are excluded from repr and masked by `describe()`."""

    # Each marketplace's own variables (credentials, API hosts, options), as its package declares
    # them (`Marketplace.variables`): read with `value(name)`; the secret ones are masked.
    marketplace_values: Mapping[str, str] = field(default_factory=dict, repr=False)
    secret_names: frozenset[str] = frozenset()
    warehouse_url: str = field(default=DEFAULT_WAREHOUSE_URL, repr=False)
    warehouse: WarehouseTarget = field(
        default_factory=lambda: parse_warehouse_url(DEFAULT_WAREHOUSE_URL)
    )
    # Multiplies every client-side pacing interval; 0 turns pacing off (sandbox, benchmarks).
    rate_limit_scale: float = 1.0
    http_timeout: float = 60.0
    max_retries: int = 6
    # The longest single wait a server may ask for (429 `Retry-After` / `X-Ratelimit-Retry`)
    # before the marketplace fails with "rate limited for N s" instead of stalling the sync.
    max_server_wait: float = 300.0
    # Prefix for the raw dataset names, so several installations can share one MySQL server.
    dataset_prefix: str = ""
    checks: CheckThresholds = field(default_factory=CheckThresholds)
    freshness: FreshnessPolicy = field(default_factory=FreshnessPolicy)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    web: WebSettings = field(default_factory=WebSettings)
    schedule_timezone: str = DEFAULT_TIMEZONE  # INVSYNC_SCHEDULE_TIMEZONE: the Dagster schedules' clock
    low_stock: int = 5  # INVSYNC_LOW_STOCK: `invsync report` lists items with at most this many units available
    # INVSYNC_KEEP_HELPERS=1: a process that syncs more than once keeps its landing processes and
    # dbt worker for its next sync (imports paid once); off, each sync's helpers end with it and
    # free their memory (a one-sync process such as `invsync sync` gains nothing from keeping them).
    keep_helpers: bool = False
    # INVSYNC_DUCKDB_MEMORY_LIMIT: DuckDB's memory limit where a sync writes the DuckDB file (dbt's
    # builds, the load of the landed pages). DuckDB's own default is 80 % of the machine's
    # memory, which its buffer pool then keeps: the snapshot of a 100,000-product account took
    # dbt's process past 1 GB, the load the syncing process to ~630 MB. Under the limit DuckDB
    # spills to `<warehouse>.tmp/` instead: at 450MB a 100,000-product sync's dbt staging took
    # ~0.5 s longer, the peak of all its processes fell by ~400 MB, and 200,000 products still
    # synced (300MB too, at 100,000, ~3 s slower); benchmarks/results.md.
    duckdb_memory_limit: str = "450MB"
    # INVSYNC_PARALLEL_LANDINGS: how many accounts land at once (each in a process of its own, a
    # few hundred MB at a large catalogue); more wait their turn. The APIs' limits are per account.
    parallel_landings: int = 4
    # Every seller account: the `default` one of each marketplace (its single-account variables)
    # and those of INVSYNC_ACCOUNTS_FILE (`pipelines.config_accounts`).
    accounts: tuple[Account, ...] = ()
    accounts_file: Path | None = None  # INVSYNC_ACCOUNTS_FILE, when set

    def value(self, name: str) -> str:
        """A marketplace's variable (say `OZON_API_KEY`): its value, its default, or ""."""
        return self.marketplace_values.get(name, "")

    # Read as a `SettingsView`, the settings are the `default` accounts' (their datasets have no suffix).
    dataset_suffix = ""

    def secrets(self) -> list[str]:
        """Every secret value this configuration holds (its `secret_field`s, the marketplaces'
        secret variables and every account's), for masking."""
        return (secret_values(self) + [v for k, v in self.marketplace_values.items() if k in self.secret_names and v]
                + [v for a in self.accounts for k, v in a.credentials.items() if k in self.secret_names and v])

    def accounts_of(self, market: Marketplace | str) -> list[Account]:
        """A marketplace's accounts, `default` first."""
        name = market if isinstance(market, str) else market.name
        return [a for a in self.accounts if a.marketplace == name]

    def syncable_accounts(self, market: Marketplace | str) -> list[Account]:
        """A marketplace's accounts with their credentials set: what a sync of it runs."""
        name = market if isinstance(market, str) else market.name
        return [a for a in self.accounts_of(name) if get(name).enabled(self.for_account(a))]

    def accounts_to_run(self, market: Marketplace | str) -> list[str]:
        """The account ids that get one run each when a marketplace is synced run by run (Dagster's
        schedules, the web's launcher): every account with credentials; none has them, the
        `default` one, whose run reports the marketplace skipped as a single-account install expects."""
        return [a.id for a in self.syncable_accounts(market)] or [DEFAULT_ACCOUNT]

    def for_account(self, account: Account | str, marketplace: str | None = None) -> "AccountSettings":
        """The settings as `account`'s sync reads them (a marketplace's `SettingsView`); an id
        needs its `marketplace`."""
        if isinstance(account, str):
            account = self.account(marketplace or "", account)
        return AccountSettings(self, account)

    def account(self, marketplace: str, account_id: str) -> Account:
        """One configured account; a ConfigError naming the configured ones if there is none."""
        for account in self.accounts_of(marketplace):
            if account.id == account_id:
                return account
        known = ", ".join(a.id for a in self.accounts_of(marketplace)) or "none"
        raise ConfigError(f"{marketplace} has no account {account_id!r} (configured: {known}; "
                          "accounts are listed in INVSYNC_ACCOUNTS_FILE)")

    def mask(self, text: str) -> str:
        """Replace every secret that appears in `text` with `***` (`pipelines.masking`)."""
        return mask_secrets(text, self.secrets())

    def describe(self) -> dict[str, str]:
        """The configuration as printable strings, secrets masked."""
        out: dict[str, str] = {}
        for name, value in self.marketplace_values.items():
            out[name] = mask_value(value) if name in self.secret_names else value
        for f in fields(self):
            if f.name in ("warehouse", "web", "smtp", "marketplace_values", "secret_names", "accounts"):
                continue
            value = getattr(self, f.name)
            if is_secret(f):
                value = mask_value(value)
            elif f.name == "warehouse_url":
                value = self.warehouse.display()
            out[f.name] = str(value)
        out["accounts"] = ", ".join(f"{a.marketplace}/{a.id}" for a in self.accounts
                                    if not a.is_default or any(a.credentials.values()))
        return out


@dataclass(frozen=True)
class AccountSettings:
    """The settings as one account's sync reads them: the account's credentials over the
    installation's values (API hosts and options are shared by every account). Marketplaces read
    settings only through `SettingsView`, so their sources need no change to sync any account."""

    settings: Settings
    account: Account

    @property
    def dataset_prefix(self) -> str:
        return self.settings.dataset_prefix

    @property
    def dataset_suffix(self) -> str:
        return "" if self.account.is_default else f"__{self.account.id}"

    def value(self, name: str) -> str:
        if name in self.account.credentials:
            return self.account.credentials[name]
        return self.settings.value(name)

    def __getattr__(self, name: str) -> Any:
        """Everything else (timeouts, pacing, masking) is the installation's."""
        if name.startswith("__") or name in ("settings", "account"):  # unpickling: not set yet
            raise AttributeError(name)
        return getattr(self.settings, name)


def parse_warehouse_url(url: str) -> WarehouseTarget:
    """Parse WAREHOUSE_URL: `duckdb:///relative/or/absolute.duckdb` or `mysql://u:p@h:3306/db`."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "duckdb":
        raw_path = url.split("://", 1)[1]
        # duckdb:///data/x.duckdb is relative to the project; duckdb:////abs/x.duckdb is absolute.
        raw_path = raw_path[1:] if raw_path.startswith("/") else raw_path
        if not raw_path:
            raise ConfigError("WAREHOUSE_URL 'duckdb:///' has no file path: use duckdb:///data/inventory.duckdb")
        path = Path(raw_path)
        if not path.is_absolute():
            path = PROJECT_ROOT / path
        # Checked before any work: a folder on the way that is a file (or a file path that is
        # a folder) would otherwise fail deep inside the sync with a bare FileExistsError.
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise ConfigError(f"WAREHOUSE_URL: {parent} is a file, not a folder, so the DuckDB file {path} "
                                      "cannot be created there: choose another path")
                break
        if path.is_dir():
            raise ConfigError(f"WAREHOUSE_URL: {path} is a folder: name the DuckDB file, e.g. {path / 'inventory.duckdb'}")
        return WarehouseTarget(kind="duckdb", path=path)
    if scheme in ("mysql", "mariadb", "mysql+pymysql"):
        database = parts.path.lstrip("/")
        if not parts.hostname:
            raise ConfigError("WAREHOUSE_URL has no host: use mysql://user:password@host:3306/inventory")
        if not database:
            raise ConfigError(
                f"WAREHOUSE_URL mysql://{parts.hostname}/ names no database: "
                "use mysql://user:password@host:3306/inventory"
            )
        try:
            port = parts.port or 3306
        except ValueError as exc:
            raise ConfigError(f"WAREHOUSE_URL has an invalid port: {exc}") from None
        return WarehouseTarget(
            kind="mysql",
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=database,
        )
    shown = scheme or url.split(":", 1)[0]
    raise ConfigError(
        f"WAREHOUSE_URL scheme '{shown}' is not supported: use duckdb:/// or mysql://"
    )


def read_dotenv(path: Path) -> dict[str, str]:
    """Read a `.env` file (KEY=value lines). Values already in the environment win."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def environment(dotenv_path: Path | None = None) -> dict[str, str]:
    """The variables settings are read from: the process environment over the project's `.env`."""
    merged = read_dotenv(dotenv_path or PROJECT_ROOT / ".env")
    merged.update(os.environ)
    return merged


def marketplace_values(env: Mapping[str, str]) -> tuple[dict[str, str], frozenset[str]]:
    """Every registered marketplace's variables, read and checked as its package declares them;
    and the names of the secret ones."""
    values: dict[str, str] = {}
    secret: set[str] = set()
    for market in MARKETPLACES:
        own = {v.name: _url(env, v.name, v.default) if v.url else (env.get(v.name, "").strip() or v.default)
               for v in market.variables}
        values.update(market.check_values(own) if market.check_values else own)
        secret.update(v.name for v in market.variables if v.secret)
    return values, frozenset(secret)


def load_settings(env: Mapping[str, str] | None = None, dotenv_path: Path | None = None) -> Settings:
    """Build validated settings from `env` (default: `environment()`)."""
    if env is None:
        env = environment(dotenv_path)

    def get(name: str) -> str:
        return env.get(name, "").strip()

    values, secret_names = marketplace_values(env)
    warehouse_url = get("WAREHOUSE_URL") or DEFAULT_WAREHOUSE_URL
    warehouse = parse_warehouse_url(warehouse_url)

    max_retries_raw = get("INVSYNC_MAX_RETRIES") or "6"
    if not max_retries_raw.isdigit():
        raise ConfigError(f"INVSYNC_MAX_RETRIES '{max_retries_raw}' is not a whole number")

    prefix = get("INVSYNC_DATASET_PREFIX")
    if prefix and not re.fullmatch(r"[a-z0-9_]+", prefix):
        raise ConfigError(f"INVSYNC_DATASET_PREFIX '{prefix}' may hold only a-z, 0-9 and _")

    accounts_file = None
    accounts = default_accounts(values)
    if get("INVSYNC_ACCOUNTS_FILE"):
        accounts_file = Path(get("INVSYNC_ACCOUNTS_FILE"))
        accounts_file = accounts_file if accounts_file.is_absolute() else PROJECT_ROOT / accounts_file
        accounts += read_accounts_file(accounts_file, env, values)
    check_distinct(accounts)

    return Settings(
        accounts=tuple(accounts),
        accounts_file=accounts_file,
        marketplace_values=values,
        secret_names=secret_names,
        warehouse_url=warehouse_url,
        warehouse=warehouse,
        rate_limit_scale=_float(env, "INVSYNC_RATE_LIMIT_SCALE", 1.0),
        http_timeout=_float(env, "INVSYNC_HTTP_TIMEOUT", 60.0, minimum=0.1),
        max_server_wait=_float(env, "INVSYNC_MAX_SERVER_WAIT", 300.0),
        checks=check_thresholds(env),
        freshness=freshness_policy(env),
        smtp=smtp_settings(env),
        web=web_settings(env),
        schedule_timezone=schedule_timezone(env),
        low_stock=_int(env, "INVSYNC_LOW_STOCK", Settings.low_stock),
        keep_helpers=_flag(env, "INVSYNC_KEEP_HELPERS"),
        duckdb_memory_limit=_memory_size(env, "INVSYNC_DUCKDB_MEMORY_LIMIT", Settings.duckdb_memory_limit),
        parallel_landings=_int(env, "INVSYNC_PARALLEL_LANDINGS", Settings.parallel_landings, minimum=1),
        max_retries=int(max_retries_raw),
        dataset_prefix=prefix,
    )
