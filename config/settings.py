"""One typed settings object for Churnwatch, loaded once at the entry point.

Sources, highest priority first: ``CHURNWATCH_*`` environment variables (nested keys
with ``__``, e.g. ``CHURNWATCH_DETECTION__LOST_RISK=0.85``), then the TOML file given
with ``--config`` (or ``CHURNWATCH_CONFIG``), then the defaults, which work with no
configuration at all. Unknown keys and bad values fail at start with a message naming
the key and the value. The reference is ``docs/configuration.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from models.policy import Policy

CONFIG_PATH_VARIABLE = "CHURNWATCH_CONFIG"

# Kafka topic names: ASCII letters, digits, '.', '_' and '-', at most 249 characters.
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_TOPIC_FIELDS = (
    "orders_topic",
    "emails_topic",
    "calls_topic",
    "at_risk_topic",
    "lost_topic",
    "recovered_topic",
    "dead_letter_topic",
    "tick_topic",
)
_BROKER_URL = re.compile(r"^kafka://[^\s/,]+:\d+(,[^\s/,]+:\d+)*$")
_WEB_URL = re.compile(r"^https?://[^\s/:]+:\d+$")
# Settings whose values are never shown: not in errors, logs or repr.
SECRET_FIELDS = frozenset({"sasl_password"})
_CENTURY_SECONDS = 3_155_760_000
# Room for a dead letter's own headers and a readable part of what was refused.
_MIN_MESSAGE_BYTES = 16_384
_SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
_TLS_PROTOCOLS = ("SSL", "SASL_SSL")


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
    # The fitted population model (``churnwatch fit``, a JSON file) every decision leans
    # on; without it, the policy's starting prior (docs/architecture.md).
    model: Path | None = None
    # CloudEvents ``source`` attribute of every decision (a URI-reference).
    source: str = "urn:churnwatch:detector"

    # -- the streaming worker (``churnwatch worker``, docs/worker.md) ---------------------
    # Kafka bootstrap servers as Faust's URL: kafka://host:port[,host:port...].
    broker: str = "kafka://127.0.0.1:9092"
    # Seconds to wait for the broker at start before giving up with a clear message.
    broker_timeout_seconds: float = 30.0
    # ``wall``: idle partitions still fire deadlines on wall-clock ticks (live);
    # ``event``: only event time moves deadlines (backfills).
    clock: Literal["wall", "event"] = "wall"
    # Partitions of every topic the worker uses (inputs, ticks, changelog, outputs).
    partitions: int = 4
    replication_factor: int = 1
    processing_guarantee: Literal["exactly_once", "at_least_once"] = "exactly_once"
    # Faust app id: consumer group, transactional ids and changelog topic prefix.
    app_id: str = "churnwatch"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    # How the other workers reach this one's web server (Faust's canonical URL, used to
    # forward customer lookups): http://host:port. Default: http://web_host:web_port, or
    # the host name instead of web_host when that is 0.0.0.0 or :: (all interfaces).
    web_canonical_url: str | None = None
    data_dir: Path = Path("churnwatch-data")
    # Table store: ``rocksdb://`` (needs the rocksdict package) or ``memory://``.
    store: str = "rocksdb://"
    # How often offsets, table changes and (exactly-once) output are committed.
    commit_interval_seconds: float = 1.0
    # A worker that stops heartbeating this long (killed, hung) loses its partitions; a
    # worker restarted after a kill -9 also waits this long to rejoin. 6 s is the broker's
    # default group.min.session.timeout.ms, the least it accepts (docs/worker.md).
    session_timeout_seconds: float = 6.0
    # The table's changelog topic, as the worker creates it: compaction never touches the
    # open segment, which a restore reads whole, so a segment is closed at this size or
    # age, whichever comes first (docs/worker.md, "Table recovery").
    changelog_segment_bytes: int = 64 * 1024 * 1024
    changelog_segment_seconds: float = 3600.0
    # Wall clock: how often each assigned partition gets a tick.
    tick_interval_seconds: float = 5.0
    # How long an input topic that has caught up still holds its partition's watermark at
    # its newest event (it may be waiting for its producer's next batch); 0: not at all.
    topic_idle_seconds: float = 2.0
    # -- input that must neither stop nor mislead the detector ---------------------------
    # Worker: an event (or tick) dated more than this after its Kafka record's timestamp is
    # refused as ``future_event`` and never moves time.
    max_event_ahead_seconds: float = 3600.0
    # Replay: an event dated more than this after the newest event applied so far is
    # refused as ``future_event`` (a file has no clock but its events; one year by default).
    replay_max_event_jump_seconds: float = 31_622_400.0
    # The largest message the worker produces (its producer refuses bigger ones); dead
    # letters are cut to fit. At most the dead-letter topic's ``max.message.bytes``.
    max_message_bytes: int = 1_000_000
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    # ``json``: one JSON object per line (time, level, logger, message); ``text``: for people.
    log_format: Literal["json", "text"] = "json"
    # -- Kafka security (every client: worker, topics create, produce, watch) ------------
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # PEM file of the CA(s) that signed the brokers' certificates (default: the system's).
    ssl_cafile: Path | None = None
    orders_topic: str = "orders"
    emails_topic: str = "email-events"
    calls_topic: str = "calls"
    at_risk_topic: str = "churn.at-risk"
    lost_topic: str = "churn.lost"
    recovered_topic: str = "churn.recovered"
    dead_letter_topic: str = "churnwatch.dead-letters"
    tick_topic: str = "churnwatch.ticks"

    @field_validator("detection", mode="before")
    @classmethod
    def _json_lists_from_environment(cls, value: Any) -> Any:
        # Environment variables arrive as text; a nested list such as
        # CHURNWATCH_DETECTION__SEGMENTS='[["small",0],["big",500]]' is JSON.
        if not isinstance(value, dict):
            return value
        decoded = dict(value)
        for key, item in value.items():
            if isinstance(item, str) and item.lstrip().startswith("["):
                # Not JSON: left as text, and validation names the key and the value.
                with contextlib.suppress(ValueError):
                    decoded[key] = json.loads(item)
        return decoded

    @field_validator(*_TOPIC_FIELDS, "app_id")
    @classmethod
    def _kafka_name(cls, value: str) -> str:
        if not _TOPIC_NAME.match(value) or value in (".", ".."):
            raise ValueError("must be 1-249 characters of A-Z a-z 0-9 . _ -")
        return value

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        if not _BROKER_URL.match(value):
            raise ValueError("must look like kafka://host:port[,host:port...]")
        return value

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: str) -> str:
        if value not in ("rocksdb://", "memory://"):
            raise ValueError("must be rocksdb:// or memory://")
        return value

    @field_validator("partitions", "replication_factor")
    @classmethod
    def _positive_count(cls, value: int) -> int:
        if not 1 <= value <= 10_000:
            raise ValueError("must be between 1 and 10000")
        return value

    @field_validator("web_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65_535:
            raise ValueError("must be a TCP port (1-65535)")
        return value

    @field_validator(
        "broker_timeout_seconds",
        "commit_interval_seconds",
        "tick_interval_seconds",
        "session_timeout_seconds",
        "changelog_segment_seconds",
    )
    @classmethod
    def _positive_seconds(cls, value: float) -> float:
        if not 0 < value <= 86_400:
            raise ValueError("must be more than 0 and at most 86400 seconds")
        return value

    @field_validator("changelog_segment_bytes")
    @classmethod
    def _segment_bytes(cls, value: int) -> int:
        if not 1 << 20 <= value <= 1 << 30:
            raise ValueError("must be from 1 MiB to 1 GiB (Kafka's default segment)")
        return value

    @model_validator(mode="after")
    def _batches_fit_segments(self) -> Settings:
        # The broker refuses a record batch larger than a segment (RECORD_LIST_TOO_LARGE),
        # and the worker's batches and records may be up to max_message_bytes.
        if self.changelog_segment_bytes < self.max_message_bytes:
            raise ValueError(
                f"changelog_segment_bytes ({self.changelog_segment_bytes}) must be at least "
                f"max_message_bytes ({self.max_message_bytes})"
            )
        return self

    @field_validator("web_canonical_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is not None and not _WEB_URL.match(value):
            raise ValueError("must look like http://host:port")
        return value

    @field_validator("ssl_cafile", "model")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("no such file")
        return value

    @model_validator(mode="after")
    def _consistent_security(self) -> Settings:
        protocol = self.security_protocol
        has_login = self.sasl_username is not None or self.sasl_password is not None
        if protocol in _SASL_PROTOCOLS and not (self.sasl_username and self.sasl_password):
            raise ValueError(f"security_protocol {protocol} needs sasl_username and sasl_password")
        if protocol not in _SASL_PROTOCOLS and has_login:
            raise ValueError(
                f"sasl_username/sasl_password are set but security_protocol is {protocol}; "
                "use SASL_SSL (or SASL_PLAINTEXT)"
            )
        if self.ssl_cafile is not None and protocol not in _TLS_PROTOCOLS:
            raise ValueError(f"ssl_cafile is set but security_protocol {protocol} uses no TLS")
        return self

    def canonical_url(self) -> str:
        """The URL the other workers use to reach this worker's web server."""
        if self.web_canonical_url is not None:
            return self.web_canonical_url
        host = self.web_host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        return f"http://{host}:{self.web_port}"

    @field_validator("topic_idle_seconds")
    @classmethod
    def _seconds(cls, value: float) -> float:
        if not 0 <= value <= 86_400:
            raise ValueError("must be between 0 and 86400 seconds")
        return value

    @field_validator("max_event_ahead_seconds", "replay_max_event_jump_seconds")
    @classmethod
    def _ahead_seconds(cls, value: float) -> float:
        if not 0 <= value <= _CENTURY_SECONDS:
            raise ValueError(f"must be between 0 and {_CENTURY_SECONDS} seconds (100 years)")
        return value

    @field_validator("max_message_bytes")
    @classmethod
    def _message_bytes(cls, value: int) -> int:
        if not _MIN_MESSAGE_BYTES <= value <= 1_000_000_000:
            raise ValueError(f"must be between {_MIN_MESSAGE_BYTES} and 1000000000 bytes")
        return value

    @model_validator(mode="after")
    def _distinct_topics(self) -> Settings:
        seen: dict[str, str] = {}
        for field in _TOPIC_FIELDS:
            name = getattr(self, field)
            if name in seen:
                raise ValueError(f"{field} and {seen[name]} are both {name!r}; topics must differ")
            seen[name] = field
        return self

    def topic_names(self) -> tuple[str, ...]:
        """Every topic the worker reads or writes, except Faust's own changelog."""
        return tuple(getattr(self, field) for field in _TOPIC_FIELDS)

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
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a rule across keys: its input is every value, secrets included
            lines.append(f"  {message}")
            continue
        key = ".".join(str(part) for part in error["loc"])
        shown = "'**********'" if set(map(str, error["loc"])) & SECRET_FIELDS else None
        lines.append(f"  {key} = {shown or repr(error.get('input'))}: {message}")
    return "\n".join(lines)
