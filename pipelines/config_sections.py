"""The groups of settings that belong to one concern, and the readers that validate them.

`pipelines.config` is the one reader of the environment: it hands the variables it read (the
process environment over `.env`) to the readers here and keeps what they return on its
`Settings` (`settings.checks`, `settings.freshness`, `settings.smtp`, `settings.web`). Nothing
here looks at `os.environ`; every reader takes the variables as a mapping and raises
`ConfigError` naming the variable and the fix. `pipelines.config` re-exports all of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipelines.masking import secret_field


class ConfigError(ValueError):
    """Configuration is missing or invalid; the message names the variable and the fix."""


# -- values ------------------------------------------------------------------------------------
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


_MEMORY_SIZE = re.compile(r"[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


def _memory_size(env: Mapping[str, str], name: str, default: str) -> str:
    """A size as DuckDB reads it ("600MB", "2GB", "1.5GiB")."""
    raw = env.get(name, "").strip() or default
    if not _MEMORY_SIZE.fullmatch(raw):
        raise ConfigError(f"{name} '{raw}' is not a memory size such as 600MB or 2GB")
    return raw


def _flag(env: Mapping[str, str], name: str) -> bool:
    """An on/off setting: 1/0 (also true/false, yes/no); unset is off."""
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} '{raw}' must be 1 or 0")


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


# -- the audit's thresholds --------------------------------------------------------------------
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


# -- freshness ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FreshnessPolicy:
    """How old a marketplace's last successful sync may be: older than `stale_after_hours` is
    stale (a warning), older than `critical_after_hours` or never synced is critical.

    The one policy of `invsync status` (its exit code), the report, the web service, the Dagster
    freshness checks and the alert e-mails. dbt's source freshness (`_*__sources.yml`) reads the
    same two variables with the same defaults. Whole hours, as dbt counts them.
    """

    stale_after_hours: int = 6  # INVSYNC_STALE_AFTER_HOURS
    critical_after_hours: int = 24  # INVSYNC_CRITICAL_AFTER_HOURS

    def level(self, age_hours: float | None) -> str:
        """`fresh`, `stale` or `critical` for data last synced `age_hours` ago (None: never)."""
        if age_hours is None or age_hours > self.critical_after_hours:
            return "critical"
        return "stale" if age_hours > self.stale_after_hours else "fresh"

    def limit_hours(self, level: str) -> int:
        """The age a level was judged against: the critical limit, or else the stale one."""
        return self.critical_after_hours if level == "critical" else self.stale_after_hours

    def describe(self) -> str:
        return f"{self.stale_after_hours} h warning, {self.critical_after_hours} h error"


def freshness_policy(env: Mapping[str, str]) -> FreshnessPolicy:
    stale = _int(env, "INVSYNC_STALE_AFTER_HOURS", FreshnessPolicy.stale_after_hours, minimum=1)
    critical = _int(env, "INVSYNC_CRITICAL_AFTER_HOURS", FreshnessPolicy.critical_after_hours, minimum=1)
    if critical < stale:
        raise ConfigError(f"INVSYNC_CRITICAL_AFTER_HOURS ({critical}) must not be below "
                          f"INVSYNC_STALE_AFTER_HOURS ({stale}): data turns stale before it turns critical")
    return FreshnessPolicy(stale_after_hours=stale, critical_after_hours=critical)


# -- schedules ---------------------------------------------------------------------------------
DEFAULT_TIMEZONE = "Europe/Moscow"


def schedule_timezone(env: Mapping[str, str]) -> str:
    """INVSYNC_SCHEDULE_TIMEZONE (an IANA zone) or Europe/Moscow: the Dagster schedules' clock."""
    name = env.get("INVSYNC_SCHEDULE_TIMEZONE", "").strip() or DEFAULT_TIMEZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"INVSYNC_SCHEDULE_TIMEZONE '{name}' is not an IANA time zone (e.g. Europe/Moscow)") from None
    return name


# -- e-mail ------------------------------------------------------------------------------------
TLS_MODES = ("none", "starttls", "ssl")
DEFAULT_SMTP_PORTS = {"none": 25, "starttls": 587, "ssl": 465}


@dataclass(frozen=True)
class SmtpSettings:
    """Alert and weekly-report e-mail. Without SMTP_HOST or ALERT_EMAIL_TO nothing is sent (the
    alerts are only logged). Read when a mail is sent, so a password never sits in Dagster's
    resource config or UI."""

    host: str = ""  # SMTP_HOST
    port: int = 25  # SMTP_PORT; by default 25, 587 or 465 after SMTP_TLS
    user: str = ""  # SMTP_USER
    password: str = secret_field()  # SMTP_PASSWORD
    tls: str = "none"  # SMTP_TLS: none | starttls | ssl
    sender: str = "invsync@localhost"  # ALERT_EMAIL_FROM, else SMTP_USER
    recipients: tuple[str, ...] = ()  # ALERT_EMAIL_TO, comma-separated

    @property
    def configured(self) -> bool:
        return bool(self.host and self.recipients)


def smtp_settings(env: Mapping[str, str]) -> SmtpSettings:
    tls = (env.get("SMTP_TLS") or "none").strip().lower()
    if tls not in TLS_MODES:
        raise ConfigError(f"SMTP_TLS '{tls}' is not one of: {', '.join(TLS_MODES)}")
    port = _int(env, "SMTP_PORT", DEFAULT_SMTP_PORTS[tls], minimum=1)
    if port > 65535:
        raise ConfigError(f"SMTP_PORT '{port}' is not a port number")
    user = (env.get("SMTP_USER") or "").strip()
    return SmtpSettings(
        host=(env.get("SMTP_HOST") or "").strip(),
        port=port,
        user=user,
        password=env.get("SMTP_PASSWORD") or "",
        tls=tls,
        sender=(env.get("ALERT_EMAIL_FROM") or "").strip() or user or SmtpSettings.sender,
        recipients=tuple(a.strip() for a in (env.get("ALERT_EMAIL_TO") or "").split(",") if a.strip()),
    )


# -- seller account ids --------------------------------------------------------------------------
# A seller account's id (`pipelines.config_accounts`). Here, below the accounts file's reader,
# because an API token may name accounts too and this module cannot import that one (it imports
# `ConfigError` from here).
ACCOUNT_ID = re.compile(r"[a-z][a-z0-9_]{0,31}")
ACCOUNT_ID_RULE = "1-32 characters a-z, 0-9 and _, starting with a letter"


# -- the web service -----------------------------------------------------------------------------
WEB_ROLES = ("viewer", "operator")
SCOPE_PREFIX = "accounts="  # the optional last part of a token entry: `accounts=acme+beta`


@dataclass(frozen=True)
class ApiToken:
    """One API token of `invsync serve`, known only by its SHA-256 (the token itself is never stored)."""

    role: str  # viewer (reads) | operator (reads, starts syncs)
    sha256: str = field(repr=False)  # lower-case hex digest of the token's UTF-8 bytes
    label: str = ""  # who holds it (recorded with syncs it starts); default `<role>-<digest prefix>`
    accounts: tuple[str, ...] | None = None  # the seller accounts it may see; None: every account


@dataclass(frozen=True)
class WebSettings:
    """`invsync serve`: the REST API and web console (INVSYNC_API_TOKENS, INVSYNC_SESSION_SECRET, ...)."""

    tokens: tuple[ApiToken, ...] = ()  # INVSYNC_API_TOKENS="[label:]role:sha256hex[:accounts=id+id],..."
    session_secret: str = secret_field()  # INVSYNC_SESSION_SECRET: signs console sessions
    session_hours: float = 12.0  # INVSYNC_SESSION_HOURS: a console login lasts this long
    sync_interval: float = 60.0  # INVSYNC_SYNC_MIN_INTERVAL: seconds between two syncs started per marketplace
    read_retry_seconds: float = 5.0  # INVSYNC_READ_RETRY: how long a read waits while a sync holds the DuckDB file
    dagster_graphql_url: str = ""  # DAGSTER_GRAPHQL_URL: start syncs as Dagster runs instead of subprocesses
    dagster_location: str = "invsync"  # INVSYNC_DAGSTER_LOCATION: the code location holding the sync jobs


def parse_api_tokens(raw: str) -> tuple[ApiToken, ...]:
    """INVSYNC_API_TOKENS: comma-separated `[label:]role:sha256hex[:accounts=id+id]` entries.

    Only hashes are configured (`invsync serve --hash-token` makes one); a value that looks like
    anything else is refused with a message that never repeats it (it may be a raw token). The
    optional `accounts=` part limits the token to those seller accounts (`+`-separated, as `,`
    and `:` already separate entries and parts); without it the token sees every account.
    """
    tokens: list[ApiToken] = []
    for number, entry in enumerate((e.strip() for e in raw.split(",")), start=1):
        if not entry:
            continue
        parts = [p.strip() for p in entry.split(":")]
        accounts = token_scope(number, parts.pop()) if parts[-1].startswith(SCOPE_PREFIX) else None
        if len(parts) == 2:
            label, (role, digest) = "", parts
        elif len(parts) == 3:
            label, role, digest = parts
        else:
            raise ConfigError(f"INVSYNC_API_TOKENS entry {number} is not `role:sha256hex` or `label:role:sha256hex` "
                              "(optionally followed by `:accounts=id+id`)")
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
        tokens.append(ApiToken(role=role, sha256=digest, label=label or f"{role}-{digest[:8]}", accounts=accounts))
    return tuple(tokens)


def token_scope(number: int, part: str) -> tuple[str, ...]:
    """The accounts of entry `number`'s `accounts=id+id` part, in order, each once.

    A wrong id is named by its position, not repeated: a value pasted into the wrong place
    may be a token.
    """
    ids = [i.strip() for i in part[len(SCOPE_PREFIX):].split("+")]
    if ids == [""]:
        raise ConfigError(f"INVSYNC_API_TOKENS entry {number}: `accounts=` names no account; list them "
                          "(`accounts=acme+beta`) or leave the part out for a token that sees every account")
    for position, account in enumerate(ids, start=1):
        if not ACCOUNT_ID.fullmatch(account):
            raise ConfigError(f"INVSYNC_API_TOKENS entry {number}: account {position} of `accounts=` is not an "
                              f"account id ({ACCOUNT_ID_RULE})")
    return tuple(dict.fromkeys(ids))


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
