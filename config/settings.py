"""One typed settings object for Churnwatch, loaded once at the entry point.

Sources, highest priority first: ``CHURNWATCH_*`` environment variables (nested keys
with ``__``, e.g. ``CHURNWATCH_DETECTION__LOST_RISK=0.85``), then the TOML file given
with ``--config`` (or ``CHURNWATCH_CONFIG``), then the defaults, which work with no
configuration at all. Unknown keys and bad values fail at start with a message naming
the key and the value. The reference is ``docs/configuration.md``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from models.policy import Policy

CONFIG_PATH_VARIABLE = "CHURNWATCH_CONFIG"


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and value, and why."""


class Settings(BaseSettings):
    """Everything configurable, validated and frozen."""

    model_config = SettingsConfigDict(
        env_prefix="CHURNWATCH_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    detection: Policy = Policy()
    # CloudEvents ``source`` attribute of every decision (a URI-reference).
    source: str = "urn:churnwatch:detector"

    @field_validator("source")
    @classmethod
    def _source_is_uri_reference(cls, value: str) -> str:
        if not value or any(ch.isspace() for ch in value):
            raise ValueError("source must be a non-empty URI-reference without spaces")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment over file: the file arrives as init values.
        return (env_settings, init_settings)


def load_settings(path: str | Path | None = None) -> Settings:
    """Read the TOML file (if any) and the environment into validated settings."""
    if path is None:
        path = os.environ.get(CONFIG_PATH_VARIABLE) or None
    values: dict[str, Any] = {}
    if path is not None:
        values = _read_toml(Path(path))
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _describe(exc: ValidationError, path: str | Path | None) -> str:
    where = f" (file {path} or CHURNWATCH_* environment)" if path else ""
    lines = [f"invalid configuration{where}:"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {key} = {error.get('input')!r}: {message}")
    return "\n".join(lines)
