"""The one place that reads configuration.

Everything the product needs to know about its environment comes from environment variables
(optionally set by a `.env` file), is validated here once, and is handed to the code that
needs it as a frozen `Settings` object. Nothing else reads `os.environ` for these names, so
there is exactly one list of knobs, one set of error messages, and one masking rule for
secrets.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_OZON_API_URL = "https://api-seller.ozon.ru"
DEFAULT_WB_STATISTICS_API_URL = "https://statistics-api.wildberries.ru"
DEFAULT_WB_ANALYTICS_API_URL = "https://seller-analytics-api.wildberries.ru"
DEFAULT_WB_MARKETPLACE_API_URL = "https://marketplace-api.wildberries.ru"
DEFAULT_WB_CONTENT_API_URL = "https://content-api.wildberries.ru"
DEFAULT_WAREHOUSE_URL = "duckdb:///data/inventory.duckdb"

WB_FBO_SOURCES = ("auto", "stocks-report", "remains")
# Values of earlier versions, read as their successor (GET /api/v1/supplier/stocks is gone).
WB_FBO_SOURCE_ALIASES = {"stocks": "auto"}


class ConfigError(ValueError):
    """Configuration is missing or invalid; the message names the variable and the fix."""


@dataclass(frozen=True)
class WarehouseTarget:
    """Where the data goes, parsed from WAREHOUSE_URL."""

    kind: str  # "duckdb" or "mysql"
    path: Path | None = None  # duckdb file
    host: str = ""
    port: int = 3306
    user: str = ""
    password: str = field(default="", repr=False)
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
class CheckThresholds:
    """How the audit tells a broken answer (held back) from an unusual move (published, warned).

    Moves are judged against this account's own history of published syncs: the relative
    change of a total from one sync to the next has a median and a robust spread (1.4826 x the
    MAD); a move further than `move_mads` spreads from the median, and at least `move_floor_share`,
    is unusual. Before `history_min` changes are known, `move_share` is the band. A units drop
    holds the publish back only when it is beyond twice that band (at least
    `critical_drop_share`) *and* at least `critical_drop_units` units: a small account's sale is
    never a broken answer; a large account losing most of its units in six hours is.
    """

    move_share: float = 0.5  # INVSYNC_ANOMALY_SHARE: band before there is history
    move_mads: float = 4.0  # INVSYNC_ANOMALY_MADS
    move_floor_share: float = 0.1  # INVSYNC_ANOMALY_FLOOR_SHARE
    critical_drop_share: float = 0.5  # INVSYNC_CRITICAL_DROP_SHARE
    critical_drop_units: int = 1000  # INVSYNC_CRITICAL_DROP_UNITS
    catalog_drop_share: float = 0.3  # INVSYNC_CATALOG_DROP_SHARE: products the catalog stops listing
    reconcile_share: float = 0.02  # INVSYNC_RECONCILE_SHARE: API counters vs what landed
    missing_share: float = 0.01  # INVSYNC_MISSING_SHARE: rows without a required field
    history_syncs: int = 30  # INVSYNC_HISTORY_SYNCS: published syncs the bands learn from
    history_min: int = 5  # INVSYNC_HISTORY_MIN: changes needed before history counts


WEB_ROLES = ("viewer", "operator")


@dataclass(frozen=True)
class ApiToken:
    """One API token of `invsync serve`, known only by its SHA-256 (the token itself is never stored)."""

    role: str  # viewer (reads) | operator (reads, starts syncs)
    sha256: str = field(repr=False)  # lower-case hex digest of the token's UTF-8 bytes
    label: str = ""  # who holds it (recorded with syncs it starts); default `<role>-<digest prefix>`


@dataclass(frozen=True)
class WebSettings:
    """`invsync serve`: the REST API and web console (INVSYNC_API_TOKENS, INVSYNC_SESSION_SECRET, ...)."""

    tokens: tuple[ApiToken, ...] = ()  # INVSYNC_API_TOKENS="[label:]role:sha256hex,..."
    session_secret: str = field(default="", repr=False)  # INVSYNC_SESSION_SECRET: signs console sessions
    session_hours: float = 12.0  # INVSYNC_SESSION_HOURS: a console login lasts this long
    sync_interval: float = 60.0  # INVSYNC_SYNC_MIN_INTERVAL: seconds between two syncs started per marketplace
    read_retry_seconds: float = 5.0  # INVSYNC_READ_RETRY: how long a read waits while a sync holds the DuckDB file
    dagster_graphql_url: str = ""  # DAGSTER_GRAPHQL_URL: start syncs as Dagster runs instead of subprocesses
    dagster_location: str = "invsync"  # INVSYNC_DAGSTER_LOCATION: the code location holding the sync jobs


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Secrets are excluded from repr and masked by `describe()`."""

    ozon_client_id: str = ""
    ozon_api_key: str = field(default="", repr=False)
    ozon_api_url: str = DEFAULT_OZON_API_URL
    wb_api_token: str = field(default="", repr=False)
    wb_statistics_api_url: str = DEFAULT_WB_STATISTICS_API_URL
    wb_analytics_api_url: str = DEFAULT_WB_ANALYTICS_API_URL
    wb_marketplace_api_url: str = DEFAULT_WB_MARKETPLACE_API_URL
    wb_content_api_url: str = DEFAULT_WB_CONTENT_API_URL
    warehouse_url: str = field(default=DEFAULT_WAREHOUSE_URL, repr=False)
    warehouse: WarehouseTarget = field(
        default_factory=lambda: parse_warehouse_url(DEFAULT_WAREHOUSE_URL)
    )
    # Which WB method gives FBO stock: `auto` (the stocks report, the warehouse-remains report
    # when the token may not use it or it is gone), `stocks-report` or `remains` only.
    wb_fbo_source: str = "auto"
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
    web: WebSettings = field(default_factory=WebSettings)

    @property
    def ozon_enabled(self) -> bool:
        return bool(self.ozon_client_id and self.ozon_api_key)

    @property
    def wb_enabled(self) -> bool:
        return bool(self.wb_api_token)

    @property
    def raw_ozon_dataset(self) -> str:
        return f"{self.dataset_prefix}raw_ozon"

    @property
    def raw_wb_dataset(self) -> str:
        return f"{self.dataset_prefix}raw_wb"

    def raw_dataset(self, marketplace: str) -> str:
        """The dlt dataset (DuckDB schema, MySQL database) of a marketplace's raw tables."""
        return self.raw_ozon_dataset if marketplace == "ozon" else self.raw_wb_dataset

    def secrets(self) -> list[str]:
        """Every secret value this configuration holds, for masking in logs and errors."""
        values = [self.ozon_api_key, self.wb_api_token, self.warehouse.password, self.web.session_secret]
        return [v for v in values if v]

    def mask(self, text: str) -> str:
        """Replace every secret that appears in `text` with `***`."""
        return mask_secrets(text, self.secrets())

    def describe(self) -> dict[str, str]:
        """The configuration as printable strings, secrets masked."""
        out: dict[str, str] = {}
        for f in fields(self):
            if f.name in ("warehouse", "web"):
                continue
            value = getattr(self, f.name)
            if f.name in ("ozon_api_key", "wb_api_token"):
                value = mask_value(value)
            elif f.name == "warehouse_url":
                value = self.warehouse.display()
            out[f.name] = str(value)
        return out

    def with_overrides(self, **changes: object) -> "Settings":
        return replace(self, **changes)


def mask_value(value: str) -> str:
    """Show that a secret is set without showing it."""
    if not value:
        return "<not set>"
    return "***" + (value[-2:] if len(value) >= 12 else "")


def mask_secrets(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    # Belt and braces: never print a password that sits in a URL.
    return re.sub(r"(://[^:/@\s]+):[^@\s]+@", r"\1:***@", text)


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


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} '{value}' is not an http(s) URL")
    return value.rstrip("/")


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} '{raw}' is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {raw}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise ConfigError(f"{name} '{raw}' must be a whole number >= {minimum}")
    return int(raw)


def _share(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if value > 1:
        raise ConfigError(f"{name} must be a share between 0 and 1 (0.5 = 50%), got {env.get(name)}")
    return value


def check_thresholds(env: Mapping[str, str]) -> CheckThresholds:
    """The audit's thresholds, validated before any work (a typo fails here, not after a landing)."""
    return CheckThresholds(
        move_share=_float(env, "INVSYNC_ANOMALY_SHARE", CheckThresholds.move_share),
        move_mads=_float(env, "INVSYNC_ANOMALY_MADS", CheckThresholds.move_mads),
        move_floor_share=_float(env, "INVSYNC_ANOMALY_FLOOR_SHARE", CheckThresholds.move_floor_share),
        critical_drop_share=_share(env, "INVSYNC_CRITICAL_DROP_SHARE", CheckThresholds.critical_drop_share),
        critical_drop_units=_int(env, "INVSYNC_CRITICAL_DROP_UNITS", CheckThresholds.critical_drop_units),
        catalog_drop_share=_share(env, "INVSYNC_CATALOG_DROP_SHARE", CheckThresholds.catalog_drop_share),
        reconcile_share=_share(env, "INVSYNC_RECONCILE_SHARE", CheckThresholds.reconcile_share),
        missing_share=_share(env, "INVSYNC_MISSING_SHARE", CheckThresholds.missing_share),
        history_syncs=_int(env, "INVSYNC_HISTORY_SYNCS", CheckThresholds.history_syncs, minimum=2),
        history_min=_int(env, "INVSYNC_HISTORY_MIN", CheckThresholds.history_min, minimum=1),
    )


def parse_api_tokens(raw: str) -> tuple[ApiToken, ...]:
    """INVSYNC_API_TOKENS: comma-separated `role:sha256hex` or `label:role:sha256hex` entries.

    Only hashes are configured (`invsync serve --hash-token` makes one); a value that looks like
    anything else is refused with a message that never repeats it (it may be a raw token).
    """
    tokens: list[ApiToken] = []
    for number, entry in enumerate((e.strip() for e in raw.split(",")), start=1):
        if not entry:
            continue
        parts = [p.strip() for p in entry.split(":")]
        if len(parts) == 2:
            label, (role, digest) = "", parts
        elif len(parts) == 3:
            label, role, digest = parts
        else:
            raise ConfigError(f"INVSYNC_API_TOKENS entry {number} is not `role:sha256hex` or `label:role:sha256hex`")
        if role not in WEB_ROLES:
            raise ConfigError(f"INVSYNC_API_TOKENS entry {number}: role must be one of {', '.join(WEB_ROLES)}")
        digest = digest.lower()
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ConfigError(
                f"INVSYNC_API_TOKENS entry {number} ({role}) is not a SHA-256 hex digest: configure the token's hash, "
                "never the token (`invsync serve --hash-token` prints it)"
            )
        if label and not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", label):
            raise ConfigError(f"INVSYNC_API_TOKENS entry {number}: a label may hold only letters, digits and _.@- (64 at most)")
        if any(t.sha256 == digest for t in tokens):
            raise ConfigError(f"INVSYNC_API_TOKENS entry {number} repeats the hash of an earlier entry")
        tokens.append(ApiToken(role=role, sha256=digest, label=label or f"{role}-{digest[:8]}"))
    return tuple(tokens)


def web_settings(env: Mapping[str, str]) -> WebSettings:
    """`invsync serve` settings. A missing session secret is refused when serving, not here."""
    secret = env.get("INVSYNC_SESSION_SECRET", "").strip()
    if secret and len(secret) < 32:
        raise ConfigError("INVSYNC_SESSION_SECRET must be at least 32 characters: "
                          "python -c 'import secrets; print(secrets.token_urlsafe(48))'")
    dagster_url = env.get("DAGSTER_GRAPHQL_URL", "").strip()
    if dagster_url:
        dagster_url = _url(env, "DAGSTER_GRAPHQL_URL", "")
    location = env.get("INVSYNC_DAGSTER_LOCATION", "").strip() or WebSettings.dagster_location
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", location):
        raise ConfigError(f"INVSYNC_DAGSTER_LOCATION '{location}' may hold only letters, digits and _.-")
    return WebSettings(
        tokens=parse_api_tokens(env.get("INVSYNC_API_TOKENS", "")),
        session_secret=secret,
        session_hours=_float(env, "INVSYNC_SESSION_HOURS", WebSettings.session_hours, minimum=0.01),
        sync_interval=_float(env, "INVSYNC_SYNC_MIN_INTERVAL", WebSettings.sync_interval),
        read_retry_seconds=_float(env, "INVSYNC_READ_RETRY", WebSettings.read_retry_seconds),
        dagster_graphql_url=dagster_url,
        dagster_location=location,
    )


def read_dotenv(path: Path) -> dict[str, str]:
    """Read a `.env` file (KEY=value lines). Values already in the environment win."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(env: Mapping[str, str] | None = None, dotenv_path: Path | None = None) -> Settings:
    """Build validated settings from `env` (default: os.environ over the project's `.env`)."""
    if env is None:
        merged = read_dotenv(dotenv_path or PROJECT_ROOT / ".env")
        merged.update(os.environ)
        env = merged

    def get(name: str) -> str:
        return env.get(name, "").strip()

    client_id, api_key = get("OZON_CLIENT_ID"), get("OZON_API_KEY")
    if api_key and not client_id:
        raise ConfigError("OZON_API_KEY is set but OZON_CLIENT_ID is missing")
    if client_id and not api_key:
        raise ConfigError("OZON_CLIENT_ID is set but OZON_API_KEY is missing")
    if client_id and not client_id.isdigit():
        # Never echo the value: a key pasted into the wrong variable would land in logs.
        raise ConfigError("OZON_CLIENT_ID must be the numeric Client-Id from the seller cabinet (digits only; "
                          "the key goes into OZON_API_KEY)")

    warehouse_url = get("WAREHOUSE_URL") or DEFAULT_WAREHOUSE_URL
    warehouse = parse_warehouse_url(warehouse_url)

    wb_fbo_source = get("WB_FBO_SOURCE") or "auto"
    wb_fbo_source = WB_FBO_SOURCE_ALIASES.get(wb_fbo_source, wb_fbo_source)
    if wb_fbo_source not in WB_FBO_SOURCES:
        raise ConfigError(f"WB_FBO_SOURCE '{wb_fbo_source}' is not one of: {', '.join(WB_FBO_SOURCES)}")

    max_retries_raw = get("INVSYNC_MAX_RETRIES") or "6"
    if not max_retries_raw.isdigit():
        raise ConfigError(f"INVSYNC_MAX_RETRIES '{max_retries_raw}' is not a whole number")

    prefix = get("INVSYNC_DATASET_PREFIX")
    if prefix and not re.fullmatch(r"[a-z0-9_]+", prefix):
        raise ConfigError(f"INVSYNC_DATASET_PREFIX '{prefix}' may hold only a-z, 0-9 and _")

    return Settings(
        ozon_client_id=client_id,
        ozon_api_key=api_key,
        ozon_api_url=_url(env, "OZON_API_URL", DEFAULT_OZON_API_URL),
        wb_api_token=get("WB_API_TOKEN"),
        wb_statistics_api_url=_url(env, "WB_STATISTICS_API_URL", DEFAULT_WB_STATISTICS_API_URL),
        wb_analytics_api_url=_url(env, "WB_ANALYTICS_API_URL", DEFAULT_WB_ANALYTICS_API_URL),
        wb_marketplace_api_url=_url(env, "WB_MARKETPLACE_API_URL", DEFAULT_WB_MARKETPLACE_API_URL),
        wb_content_api_url=_url(env, "WB_CONTENT_API_URL", DEFAULT_WB_CONTENT_API_URL),
        warehouse_url=warehouse_url,
        warehouse=warehouse,
        wb_fbo_source=wb_fbo_source,
        rate_limit_scale=_float(env, "INVSYNC_RATE_LIMIT_SCALE", 1.0),
        http_timeout=_float(env, "INVSYNC_HTTP_TIMEOUT", 60.0, minimum=0.1),
        max_server_wait=_float(env, "INVSYNC_MAX_SERVER_WAIT", 300.0),
        checks=check_thresholds(env),
        web=web_settings(env),
        max_retries=int(max_retries_raw),
        dataset_prefix=prefix,
    )
