"""Configuration: validation messages, defaults, masking."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError, FreshnessPolicy, load_settings
from pipelines.marketplaces import MARKETPLACES, OZON
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
