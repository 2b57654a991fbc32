"""Configuration: validation messages, defaults, masking."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError, FreshnessPolicy, load_settings
from pipelines.marketplaces import MARKETPLACES, OZON, get
from pipelines.masking import mask_secrets


def test_defaults_point_at_real_hosts_and_embedded_duckdb() -> None:
    s = load_settings({})
    assert s.value("OZON_API_URL") == "https://api-seller.ozon.ru"
    assert s.value("WB_STATISTICS_API_URL") == "https://statistics-api.wildberries.ru"
    assert s.value("WB_CONTENT_API_URL") == "https://content-api.wildberries.ru"
    assert s.warehouse.is_duckdb and s.warehouse.path.name == "inventory.duckdb"
    assert not any(m.enabled(s) for m in MARKETPLACES)
    assert (s.freshness.stale_after_hours, s.freshness.critical_after_hours) == (6, 24)
    assert s.schedule_timezone == "Europe/Moscow" and s.low_stock == 5
    assert not s.smtp.configured and s.smtp.port == 25 and s.smtp.sender == "invsync@localhost"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"OZON_API_KEY": "k"}, "OZON_API_KEY is set but OZON_CLIENT_ID is missing"),
        ({"OZON_CLIENT_ID": "123"}, "OZON_CLIENT_ID is set but OZON_API_KEY is missing"),
        ({"OZON_CLIENT_ID": "abc", "OZON_API_KEY": "k"}, "must be the numeric Client-Id"),
        ({"WAREHOUSE_URL": "postgres://u:p@h/db"}, "WAREHOUSE_URL scheme 'postgres' is not supported: use duckdb:/// or mysql://"),
        ({"WAREHOUSE_URL": "mysql://u:p@h:3306/"}, "names no database"),
        ({"WB_STATISTICS_API_URL": "ftp://x"}, "WB_STATISTICS_API_URL 'ftp://x' is not an http(s) URL"),
        ({"WB_FBO_SOURCE": "magic"}, "WB_FBO_SOURCE 'magic' is not one of"),
        ({"INVSYNC_RATE_LIMIT_SCALE": "-1"}, "INVSYNC_RATE_LIMIT_SCALE must be >= 0"),
        ({"INVSYNC_STALE_AFTER_HOURS": "six"}, "INVSYNC_STALE_AFTER_HOURS 'six' must be a whole number >= 1"),
        ({"INVSYNC_CRITICAL_AFTER_HOURS": "0"}, "INVSYNC_CRITICAL_AFTER_HOURS '0' must be a whole number >= 1"),
        ({"INVSYNC_STALE_AFTER_HOURS": "12", "INVSYNC_CRITICAL_AFTER_HOURS": "8"}, "must not be below INVSYNC_STALE_AFTER_HOURS"),
        ({"INVSYNC_LOW_STOCK": "few"}, "INVSYNC_LOW_STOCK 'few' must be a whole number"),
        ({"INVSYNC_SCHEDULE_TIMEZONE": "Mars/Olympus"}, "INVSYNC_SCHEDULE_TIMEZONE 'Mars/Olympus' is not an IANA time zone"),
        ({"SMTP_TLS": "tls"}, "SMTP_TLS 'tls' is not one of: none, starttls, ssl"),
        ({"SMTP_PORT": "smtp"}, "SMTP_PORT 'smtp' must be a whole number"),
        ({"INVSYNC_DUCKDB_MEMORY_LIMIT": "600"}, "INVSYNC_DUCKDB_MEMORY_LIMIT '600' is not a memory size such as 600MB"),
        ({"INVSYNC_DUCKDB_MEMORY_LIMIT": "lots"}, "INVSYNC_DUCKDB_MEMORY_LIMIT 'lots' is not a memory size"),
    ],
)
def test_invalid_configuration_fails_with_a_specific_message(env: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert message in str(err.value)


def test_mysql_url_is_parsed_and_password_masked_everywhere() -> None:
    s = load_settings({"WAREHOUSE_URL": "mysql://inv:S3cr%40t@db.example:3307/inventory",
                       "OZON_CLIENT_ID": "42", "OZON_API_KEY": "ozon-secret-key-123456",
                       "WB_API_TOKEN": "wb-secret-token-abcdef"})
    w = s.warehouse
    assert (w.host, w.port, w.user, w.password, w.database) == ("db.example", 3307, "inv", "S3cr@t", "inventory")
    shown = str(s.describe()) + repr(s) + w.display()
    for secret in ("S3cr@t", "S3cr%40t", "ozon-secret-key-123456", "wb-secret-token-abcdef"):
        assert secret not in shown
    assert s.mask("failed with key ozon-secret-key-123456 and S3cr@t") == "failed with key *** and ***"
    assert "S3cr" not in mask_secrets("mysql://inv:S3cr%40t@db.example/x", [])


def test_dotenv_file_is_read_and_environment_wins(tmp_path, monkeypatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("WB_API_TOKEN=from-file\nOZON_CLIENT_ID=7\nOZON_API_KEY=from-file\n")
    monkeypatch.setenv("WB_API_TOKEN", "from-env")
    monkeypatch.delenv("OZON_CLIENT_ID", raising=False)
    monkeypatch.delenv("OZON_API_KEY", raising=False)
    s = load_settings(dotenv_path=env_file)
    assert s.value("WB_API_TOKEN") == "from-env"
    assert s.value("OZON_CLIENT_ID") == "7" and OZON.enabled(s)


def test_freshness_policy_smtp_and_the_other_settings_read_once() -> None:
    s = load_settings({"INVSYNC_STALE_AFTER_HOURS": "3", "INVSYNC_CRITICAL_AFTER_HOURS": "12",
                       "INVSYNC_SCHEDULE_TIMEZONE": "Asia/Yekaterinburg", "INVSYNC_LOW_STOCK": "0",
                       "SMTP_HOST": "mail.example", "SMTP_TLS": "STARTTLS", "SMTP_USER": "alerts@example.org",
                       "SMTP_PASSWORD": "smtp-secret-password", "ALERT_EMAIL_TO": "ops@example.org, ,stock@example.org"})
    assert s.freshness == FreshnessPolicy(stale_after_hours=3, critical_after_hours=12)
    assert [s.freshness.level(age) for age in (None, 0.0, 3.0, 3.01, 12.0, 12.5)] == \
        ["critical", "fresh", "fresh", "stale", "stale", "critical"]
    assert s.schedule_timezone == "Asia/Yekaterinburg" and s.low_stock == 0
    smtp = s.smtp
    assert smtp.configured and (smtp.host, smtp.port, smtp.tls) == ("mail.example", 587, "starttls")
    assert smtp.sender == "alerts@example.org" and smtp.recipients == ("ops@example.org", "stock@example.org")
    shown = str(s.describe()) + repr(s)
    assert "smtp-secret-password" not in shown
    assert s.mask("login failed for smtp-secret-password") == "login failed for ***"


# -- seller accounts (INVSYNC_ACCOUNTS_FILE) ----------------------------------------------------
def write_accounts(tmp_path, text: str):
    path = tmp_path / "accounts.toml"
    path.write_text(text, encoding="utf-8")
    return path


def secrets_file(tmp_path, name: str, text: str, mode: int = 0o600):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


TWO_ACCOUNTS = """
[[account]]
id = "north"
marketplace = "ozon"
label = "North LLC"
env = { OZON_CLIENT_ID = "NORTH_OZON_CLIENT_ID", OZON_API_KEY = "NORTH_OZON_API_KEY" }

[[account]]
id = "south_wb"
marketplace = "wb"
secrets_file = "south-wb.toml"
"""


def test_without_an_accounts_file_each_marketplace_has_its_default_account_from_its_variables() -> None:
    s = load_settings({"OZON_CLIENT_ID": "42", "OZON_API_KEY": "ozon-secret-key-123456"})
    assert [(a.marketplace, a.id) for a in s.accounts] == [(m.name, "default") for m in MARKETPLACES]
    (ozon,) = s.accounts_of("ozon")
    view = s.for_account(ozon)
    for variable in OZON.variables:  # the default account reads exactly what the settings read
        assert view.value(variable.name) == s.value(variable.name)
    others = [a for a in s.accounts if a.marketplace != "ozon"]
    assert OZON.enabled(view) and others and not any(get(a.marketplace).enabled(s.for_account(a)) for a in others)


def test_accounts_file_gives_each_account_its_own_credentials_and_masks_them(tmp_path) -> None:
    secrets_file(tmp_path, "south-wb.toml", 'WB_API_TOKEN = "south-wb-token-0123456789"\n')
    path = write_accounts(tmp_path, TWO_ACCOUNTS)
    s = load_settings({"INVSYNC_ACCOUNTS_FILE": str(path), "OZON_CLIENT_ID": "42", "OZON_API_KEY": "ozon-default-key-123456",
                       "NORTH_OZON_CLIENT_ID": "77", "NORTH_OZON_API_KEY": "north-ozon-key-abcdef",
                       "OZON_API_URL": "http://127.0.0.1:9999"})
    assert [a.id for a in s.accounts_of("ozon")] == ["default", "north"]
    north = s.for_account(s.accounts_of("ozon")[1])
    assert (north.value("OZON_CLIENT_ID"), north.value("OZON_API_KEY")) == ("77", "north-ozon-key-abcdef")
    assert north.value("OZON_API_URL") == "http://127.0.0.1:9999"  # hosts and options are the installation's
    south = s.accounts_of("wb")[1]
    assert (south.id, south.label, s.for_account(south).value("WB_API_TOKEN")) == ("south_wb", "south_wb", "south-wb-token-0123456789")
    assert s.accounts_of("ozon")[1].label == "North LLC"
    assert s.describe()["accounts"] == "ozon/default, ozon/north, wb/south_wb"
    shown = str(s.describe()) + repr(s) + repr(s.accounts)
    for secret in ("north-ozon-key-abcdef", "south-wb-token-0123456789", "ozon-default-key-123456"):
        assert secret not in shown
        assert s.mask(f"failed with {secret}") == "failed with ***"


@pytest.mark.parametrize(
    "text, env, message",
    [
        (TWO_ACCOUNTS.replace('id = "south_wb"', 'id = "north"'), {}, "account id 'north' is listed twice"),
        (TWO_ACCOUNTS.replace('marketplace = "wb"', 'marketplace = "kaspi"'), {}, "marketplace 'kaspi' is not one of: ozon, wb, ym"),
        (TWO_ACCOUNTS, {"NORTH_OZON_API_KEY": ""}, "account 'north': OZON_API_KEY: the environment variable NORTH_OZON_API_KEY is not set"),
        (TWO_ACCOUNTS.replace('id = "north"', 'id = "default"'), {}, "'default' is the account of the single-account variables"),
        (TWO_ACCOUNTS.replace('id = "north"', 'id = "North-1"'), {}, "id 'North-1' must be 1-32 characters a-z, 0-9 and _"),
        (TWO_ACCOUNTS.replace('label = "North LLC"', 'secrets_file = "x.toml"'), {}, "either `env`"),
        (TWO_ACCOUNTS.replace('label = "North LLC"', 'lable = "North LLC"'), {}, "unknown key(s) lable"),
        (TWO_ACCOUNTS.replace('OZON_API_KEY = "NORTH_OZON_API_KEY"', 'OZON_API_KEY = "NORTH_OZON_API_KEY", OZON_API_URL = "X"'), {},
         "OZON_API_URL is not a credential of this marketplace"),
        (TWO_ACCOUNTS, {"NORTH_OZON_CLIENT_ID": "north"}, "account 'north': OZON_CLIENT_ID must be the numeric Client-Id"),
        (TWO_ACCOUNTS, {"NORTH_OZON_CLIENT_ID": "42", "NORTH_OZON_API_KEY": "ozon-default-key-123456"},
         "accounts 'default' and 'north' (ozon) have the same credentials"),
        ("[[account]\nid = 1", {}, "is not valid TOML"),
        ("[accounts]\nid = 'x'", {}, "unknown section(s) accounts"),
    ],
)
def test_a_wrong_accounts_file_fails_before_any_work_with_one_line_naming_the_account(tmp_path, text, env, message) -> None:
    secrets_file(tmp_path, "south-wb.toml", 'WB_API_TOKEN = "south-wb-token-0123456789"\n')
    path = write_accounts(tmp_path, text)
    base = {"INVSYNC_ACCOUNTS_FILE": str(path), "OZON_CLIENT_ID": "42", "OZON_API_KEY": "ozon-default-key-123456",
            "NORTH_OZON_CLIENT_ID": "77", "NORTH_OZON_API_KEY": "north-ozon-key-abcdef"}
    with pytest.raises(ConfigError) as err:
        load_settings({**base, **env})
    assert message in str(err.value)
    assert "\n" not in str(err.value).strip()
    for secret in ("north-ozon-key-abcdef", "south-wb-token-0123456789", "ozon-default-key-123456"):
        assert secret not in str(err.value)


@pytest.mark.parametrize(
    "content, mode, message",
    [
        ('WB_API_TOKEN = "south-wb-token-0123456789"\n', 0o644, "can be read by others (mode 644): chmod 600"),
        ('WB_TOKEN = "south-wb-token-0123456789"\n', 0o600, "WB_TOKEN is not a credential of this marketplace"),
        ('WB_API_TOKEN = south-wb-token-0123456789\n', 0o600, "is not valid TOML (NAME = \"value\" lines)"),
        ("", 0o600, "has no WB_API_TOKEN"),
    ],
)
def test_a_secrets_file_must_be_private_and_hold_the_credentials(tmp_path, content, mode, message) -> None:
    secrets_file(tmp_path, "south-wb.toml", content, mode)
    path = write_accounts(tmp_path, TWO_ACCOUNTS)
    env = {"INVSYNC_ACCOUNTS_FILE": str(path), "NORTH_OZON_CLIENT_ID": "77", "NORTH_OZON_API_KEY": "north-ozon-key-abcdef"}
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert message in str(err.value) and "south-wb-token-0123456789" not in str(err.value)


def test_a_missing_accounts_file_is_named() -> None:
    with pytest.raises(ConfigError, match="INVSYNC_ACCOUNTS_FILE .*nowhere.toml does not exist"):
        load_settings({"INVSYNC_ACCOUNTS_FILE": "/nowhere/nowhere.toml"})


def test_invsync_accounts_lists_where_credentials_come_from_and_which_accounts_sync(
        tmp_path, monkeypatch, capsys) -> None:
    import json

    from pipelines.cli import main, nothing_to_sync

    secrets_file(tmp_path, "south-wb.toml", 'WB_API_TOKEN = "south-wb-token-0123456789"\n')
    env = {"INVSYNC_ACCOUNTS_FILE": str(write_accounts(tmp_path, TWO_ACCOUNTS)), "OZON_CLIENT_ID": "42",
           "OZON_API_KEY": "ozon-default-key-123456", "NORTH_OZON_CLIENT_ID": "77", "NORTH_OZON_API_KEY": "north-ozon-key-abcdef"}
    for name in ("WB_API_TOKEN", "YM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["accounts", "--json"]) == 0
    out = capsys.readouterr().out
    rows = {(r["marketplace"], r["account"]): r for r in json.loads(out)}
    assert rows[("ozon", "default")]["state"] == "syncs"
    assert rows[("wb", "default")]["state"] == "not configured (WB_API_TOKEN not set)"
    assert rows[("ozon", "north")]["credentials"] == "environment variables NORTH_OZON_CLIENT_ID, NORTH_OZON_API_KEY"
    assert rows[("wb", "south_wb")]["credentials"] == f"secrets file {tmp_path / 'south-wb.toml'}"
    assert rows[("ozon", "north")]["state"] == "syncs"
    assert "north-ozon-key-abcdef" not in out and "south-wb-token-0123456789" not in out
    # WB's default account has no token, but its file account does: a WB sync has work to do.
    assert nothing_to_sync(load_settings(env), "wb") is None
    assert nothing_to_sync(load_settings({k: v for k, v in env.items() if k != "INVSYNC_ACCOUNTS_FILE"}), "wb")


def test_invsync_sandbox_serves_extra_accounts_and_refuses_bad_ids() -> None:
    from pipelines.cli import build_parser, sandbox_options

    options = sandbox_options(build_parser().parse_args(["sandbox", "--accounts", "north, south", "--products", "30"]))
    assert options.accounts == ("north", "south") and options.products == 30
    assert sandbox_options(build_parser().parse_args(["sandbox"])).accounts == ()
    with pytest.raises(ConfigError, match="--accounts: account id .North. must be"):
        sandbox_options(build_parser().parse_args(["sandbox", "--accounts", "North"]))
