"""Configuration: validation messages, defaults, masking."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError, load_settings, mask_secrets


def test_defaults_point_at_real_hosts_and_embedded_duckdb() -> None:
    s = load_settings({})
    assert s.ozon_api_url == "https://api-seller.ozon.ru"
    assert s.wb_statistics_api_url == "https://statistics-api.wildberries.ru"
    assert s.wb_content_api_url == "https://content-api.wildberries.ru"
    assert s.warehouse.is_duckdb and s.warehouse.path.name == "inventory.duckdb"
    assert not s.ozon_enabled and not s.wb_enabled


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
    assert s.wb_api_token == "from-env"
    assert s.ozon_client_id == "7" and s.ozon_enabled
