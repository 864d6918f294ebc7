"""Settings: env, secret files, one clear line per bad value, production requirements."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path / "none"))


def test_development_defaults_run_on_the_emulator_and_open_api() -> None:
    s = load_settings()
    assert s.environment == "development" and s.uses_emulator and not s.auth_enabled


def test_production_refuses_to_start_without_key_keys_and_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    for name in ("GEMINI_API_KEY", "API_KEYS", "DATABASE_URL"):
        assert name in message
    monkeypatch.setenv("GEMINI_API_KEY", "g-key")
    monkeypatch.setenv("API_KEYS", "ops:0123456789abcdef")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db/agent")
    assert load_settings().environment == "production"


def test_each_bad_value_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    monkeypatch.setenv("DATABASE_URL", "mysql://nope")
    monkeypatch.setenv("CORS_ORIGINS", "*")
    monkeypatch.setenv("API_KEYS", "short")
    monkeypatch.setenv("RATE_LIMIT_OVERRIDES", "bob")
    with pytest.raises(ConfigError) as info:
        load_settings()
    lines = str(info.value).splitlines()[1:]
    assert {line.split(":")[0].strip() for line in lines} == {
        "PORT",
        "DATABASE_URL",
        "CORS_ORIGINS",
        "API_KEYS",
        "RATE_LIMIT_OVERRIDES",
    }
    assert "secret" not in str(info.value).lower() or "short" not in str(info.value)


def test_secrets_are_read_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "gemini_api_key").write_text("from-a-file\n")
    (secrets / "api_keys").write_text("alice:alice-key-0001,bob:bob-key-00002")
    monkeypatch.setenv("SECRETS_DIR", str(secrets))
    s = load_settings()
    assert s.gemini_api_key is not None and s.gemini_api_key.get_secret_value() == "from-a-file"
    assert s.api_key_table() == {"alice-key-0001": "alice", "bob-key-00002": "bob"}
    assert "from-a-file" not in repr(s)


def test_readme_configuration_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, re.M))
    assert {name.upper() for name in Settings.model_fields} <= documented
    assert "make run" in readme and "make test" in readme
