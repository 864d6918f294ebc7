"""All configuration in one pydantic-settings class: env vars, `.env`, and secret files.

Secrets (GEMINI_API_KEY, API_KEYS, DATABASE_URL, REDIS_URL) may also come from files named
after the setting in SECRETS_DIR (default /run/secrets), which is how Docker and compose
secrets arrive. `load_settings()` turns validation errors into one clear line per bad value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRETS_DIR = "/run/secrets"


class ConfigError(Exception):
    """Raised with a readable, multi-line explanation of every bad setting."""


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    environment: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"

    # Model
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str | None = Field(
        None, description="Override the Gemini endpoint (a proxy, or the emulator's URL)."
    )
    gemini_api_version: str = "v1beta"
    gemini_model: str = Field("gemini-2.5-flash", min_length=1, max_length=100)
    gemini_timeout_ms: int = Field(60_000, ge=100, le=600_000)
    gemini_retry_attempts: int = Field(4, ge=1, le=10)
    gemini_retry_initial_delay: float = Field(1.0, ge=0.0, le=60.0)
    gemini_retry_max_delay: float = Field(20.0, ge=0.0, le=300.0)
    system_prompt: str = (
        "You are a helpful assistant. Use the tools you are given when they help; answer concisely."
    )

    # API surface
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated `name:key` (or bare `key`) entries; empty = open API "
        "(development only).",
    )
    rate_limit_per_minute: int = Field(120, ge=1, le=1_000_000)
    rate_limit_overrides: CommaList = Field(
        default_factory=list, description="Comma-separated `name=limit` per API key name."
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    cors_origins: CommaList = Field(default_factory=list)
    history_turns: int = Field(200, ge=2, le=10_000)

    # Storage
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    database_pool_min: int = Field(1, ge=0, le=100)
    database_pool_max: int = Field(10, ge=1, le=200)
    cache_ttl_seconds: int = Field(3600, ge=0, le=30 * 86400)

    # Tasks
    run_workers: bool = Field(True, description="Run task workers inside the API process.")
    worker_concurrency: int = Field(4, ge=1, le=256)
    task_lease_seconds: float = Field(30.0, ge=1.0, le=3600.0)
    task_max_attempts: int = Field(3, ge=1, le=20)
    sweep_interval_seconds: float = Field(5.0, ge=0.1, le=600.0)

    # Tools
    tool_timeout_seconds: float = Field(20.0, gt=0, le=600)
    tool_modules: CommaList = Field(default_factory=list)
    http_get_allowed_hosts: CommaList = Field(default_factory=list)
    http_get_max_bytes: int = Field(262_144, ge=1024, le=16 * 1_048_576)
    http_get_timeout_seconds: float = Field(10.0, gt=0, le=120)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("rate_limit_overrides", "cors_origins", "tool_modules", mode="before")
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("http_get_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        hosts = _split(value)
        return [h.lower().rstrip(".") for h in hosts] if isinstance(hosts, list) else hosts

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError("list origins explicitly; '*' is not allowed")
        return value

    @field_validator("rate_limit_overrides")
    @classmethod
    def _check_overrides(cls, value: list[str]) -> list[str]:
        for item in value:
            name, sep, limit = item.partition("=")
            if not sep or not name or not limit.isdigit() or int(limit) < 1:
                raise ValueError(f"expected name=limit, got {item!r}")
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        names = set()
        for item in value:
            raw = item.get_secret_value()
            name, _, key = raw.rpartition(":")
            if len(key) < 8:
                raise ValueError("each API key must be at least 8 characters")
            names.add(name or key)
        if len(names) != len(value):
            raise ValueError("API key names must be unique")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("postgres://", "postgresql://")
        ):
            raise ValueError("must be a postgres:// or postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _production_requirements(self) -> Settings:
        if self.environment == "production":
            missing = [
                name
                for name, present in (
                    ("GEMINI_API_KEY", self.gemini_api_key is not None),
                    ("API_KEYS", bool(self.api_keys)),
                    ("DATABASE_URL", self.database_url is not None),
                )
                if not present
            ]
            if missing:
                raise ValueError(
                    "production requires " + ", ".join(missing) + " (env var or secret file)"
                )
        if self.database_pool_min > self.database_pool_max:
            raise ValueError("DATABASE_POOL_MIN must not exceed DATABASE_POOL_MAX")
        return self

    # Derived facts the rest of the service reports.
    @property
    def uses_emulator(self) -> bool:
        """No key in development: the bundled emulator answers in-process."""
        return self.gemini_api_key is None and self.gemini_base_url is None

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    def api_key_table(self) -> dict[str, str]:
        """key -> key id (its name, or a short fingerprint when unnamed)."""
        import hashlib

        table = {}
        for item in self.api_keys:
            name, _, key = item.get_secret_value().rpartition(":")
            table[key] = name or "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]
        return table

    def rate_limit_for(self, key_id: str) -> int:
        for item in self.rate_limit_overrides:
            name, _, limit = item.partition("=")
            if name == key_id:
                return int(limit)
        return self.rate_limit_per_minute


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment, reading secret files when the folder exists."""
    secrets_dir = os.environ.get("SECRETS_DIR", DEFAULT_SECRETS_DIR)
    kwargs: dict[str, Any] = dict(overrides)
    if Path(secrets_dir).is_dir():
        kwargs["_secrets_dir"] = secrets_dir
    try:
        return Settings(**kwargs)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {loc.upper()}: {msg}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None
