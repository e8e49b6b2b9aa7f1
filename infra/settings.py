"""Settings: one frozen dataclass built from command-line flags and the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

DEFAULT_STORE = "sqlite:///./smsledger.db"
DEFAULT_POLICY = "sms-service"
# How far a message may be behind its partition's clock (its latest clock.tick, or the wall
# clock once caught up) and still find its account as in-order processing would have left
# it; a clock settles only what lies further behind it. Further behind, a message is late.
DEFAULT_ALLOWED_LATENESS = timedelta(minutes=5)
# A message whose `at` is further ahead of the wall clock than this is dead-lettered
# (`future`), so that one line cannot move the ledger's time for good.
DEFAULT_MAX_FUTURE = timedelta(days=1)


@dataclass(frozen=True)
class Topics:
    """Kafka topic names; the three inbound topics must share one partition count."""

    provider: str = "sms.provider.events"
    customer: str = "sms.customer.commands"
    payments: str = "sms.payments.events"
    ledger: str = "sms.ledger.events"

    @property
    def inbound(self) -> tuple[str, str, str]:
        return (self.provider, self.customer, self.payments)

    @staticmethod
    def dead_letter(topic: str) -> str:
        return f"{topic}.dlq"


@dataclass(frozen=True)
class KafkaSettings:
    """Connection and consumer-group settings, passed through to kafka-python."""

    bootstrap: str = "127.0.0.1:9092"
    group_id: str = "smsledger"
    topics: Topics = field(default_factory=Topics)
    # Records per transaction when a backlog is waiting (a live stream's batches are what
    # arrived). 8000 against 2000: 7,455-8,498 against 5,718-5,978 records/s through Tansu.
    batch_size: int = 8000
    # Records held in the consumer's merge buffers (all partitions) at which it skips
    # polls (0: four batches).
    buffer_limit: int = 0
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    # Group timings. Tansu answers a JoinGroup only after about half the session
    # timeout, and a rebalance waits up to max_poll_interval for busy members, so
    # local runs and tests lower these (see `infra.broker.LOCAL_GROUP_TIMINGS`).
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1500
    max_poll_interval_ms: int = 30000
    # A lost broker: kafka-python reconnects with a backoff doubling from the first to the
    # second value; a member that has had no connection for `broker_timeout_s` stops, non-zero.
    reconnect_backoff_ms: int = 100
    reconnect_backoff_max_ms: int = 5000
    broker_timeout_s: float = 60.0
    # A member without partitions this long (a rebalance that does not end) warns; with
    # --stop-when-idle it stops, non-zero.
    assignment_timeout_s: float = 60.0

    def client_options(self) -> dict[str, Any]:
        """Options common to producers, consumers and admin clients."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap.split(","),
            "security_protocol": self.security_protocol,
            "reconnect_backoff_ms": self.reconnect_backoff_ms,
            "reconnect_backoff_max_ms": self.reconnect_backoff_max_ms,
        }
        optional = {
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.sasl_username,
            "sasl_plain_password": self.sasl_password,
            "ssl_cafile": self.ssl_cafile,
            "ssl_certfile": self.ssl_certfile,
            "ssl_keyfile": self.ssl_keyfile,
        }
        options.update({k: v for k, v in optional.items() if v is not None})
        return options


@dataclass(frozen=True)
class Settings:
    """Everything the application is built from; see `infra.bootstrap`."""

    store: str = DEFAULT_STORE
    policy: str | None = None  # None: the store's own policy, else DEFAULT_POLICY
    # A directory of further policy versions (None: the one the store was last given).
    policy_dir: str | None = None
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    batch_size: int = 8000
    # The early-cancel lock in seconds for new orders (None: the policy's own, 0 s).
    cancel_lock: int | None = None
    log_level: str = "info"  # debug, info, warning, error
    log_format: str = "text"  # text or json (one object per line)
    metrics_port: int = 0  # consume and relay serve Prometheus metrics here (0: off)
    metrics_host: str = "127.0.0.1"
    # A longer input line is dead-lettered (line_too_long) with its first KiB, unread.
    max_line_bytes: int = 65_536
    allowed_lateness: timedelta = DEFAULT_ALLOWED_LATENESS
    max_future: timedelta = DEFAULT_MAX_FUTURE

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _env_int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {raw!r}") from None


def _env_float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{key} must be a number, got {raw!r}") from None


_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`300`, `90s`, `5m`, `2h` or `1d` as a duration; ValueError otherwise."""
    found = _DURATION.match(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a duration (seconds, or a number with s, m, h, d)")
    return timedelta(seconds=int(found[1]) * _UNITS[found[2]])


def _env_duration(env: Mapping[str, str], key: str, default: timedelta) -> timedelta:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return parse_duration(raw)
    except ValueError as error:
        raise ValueError(f"{key}: {error}") from None


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from SMSLEDGER_* variables; flags override them in the CLI."""
    env = os.environ if env is None else env
    topics = Topics(
        provider=env.get("SMSLEDGER_TOPIC_PROVIDER", Topics.provider),
        customer=env.get("SMSLEDGER_TOPIC_CUSTOMER", Topics.customer),
        payments=env.get("SMSLEDGER_TOPIC_PAYMENTS", Topics.payments),
        ledger=env.get("SMSLEDGER_TOPIC_LEDGER", Topics.ledger),
    )
    kafka = KafkaSettings(
        bootstrap=env.get("SMSLEDGER_BOOTSTRAP", KafkaSettings.bootstrap),
        group_id=env.get("SMSLEDGER_GROUP_ID", KafkaSettings.group_id),
        topics=topics,
        batch_size=_env_int(env, "SMSLEDGER_KAFKA_BATCH", KafkaSettings.batch_size),
        buffer_limit=_env_int(env, "SMSLEDGER_KAFKA_BUFFER", KafkaSettings.buffer_limit),
        security_protocol=env.get("SMSLEDGER_SECURITY_PROTOCOL", "PLAINTEXT"),
        sasl_mechanism=env.get("SMSLEDGER_SASL_MECHANISM") or None,
        sasl_username=env.get("SMSLEDGER_SASL_USERNAME") or None,
        sasl_password=env.get("SMSLEDGER_SASL_PASSWORD") or None,
        ssl_cafile=env.get("SMSLEDGER_SSL_CAFILE") or None,
        ssl_certfile=env.get("SMSLEDGER_SSL_CERTFILE") or None,
        ssl_keyfile=env.get("SMSLEDGER_SSL_KEYFILE") or None,
        session_timeout_ms=_env_int(
            env, "SMSLEDGER_SESSION_TIMEOUT_MS", KafkaSettings.session_timeout_ms
        ),
        heartbeat_interval_ms=_env_int(
            env, "SMSLEDGER_HEARTBEAT_INTERVAL_MS", KafkaSettings.heartbeat_interval_ms
        ),
        max_poll_interval_ms=_env_int(
            env, "SMSLEDGER_MAX_POLL_INTERVAL_MS", KafkaSettings.max_poll_interval_ms
        ),
        reconnect_backoff_ms=_env_int(
            env, "SMSLEDGER_RECONNECT_BACKOFF_MS", KafkaSettings.reconnect_backoff_ms),
        reconnect_backoff_max_ms=_env_int(
            env, "SMSLEDGER_RECONNECT_BACKOFF_MAX_MS", KafkaSettings.reconnect_backoff_max_ms),
        broker_timeout_s=_env_float(
            env, "SMSLEDGER_BROKER_TIMEOUT_S", KafkaSettings.broker_timeout_s),
        assignment_timeout_s=_env_float(
            env, "SMSLEDGER_ASSIGNMENT_TIMEOUT_S", KafkaSettings.assignment_timeout_s),
    )
    max_line_bytes = _env_int(env, "SMSLEDGER_MAX_LINE_BYTES", Settings.max_line_bytes)
    if max_line_bytes < 1:
        raise ValueError(f"SMSLEDGER_MAX_LINE_BYTES must be at least 1, got {max_line_bytes}")
    return Settings(
        store=env.get("SMSLEDGER_STORE") or DEFAULT_STORE,
        policy=env.get("SMSLEDGER_POLICY") or None,
        policy_dir=env.get("SMSLEDGER_POLICY_DIR") or None,
        kafka=kafka,
        batch_size=_env_int(env, "SMSLEDGER_BATCH", Settings.batch_size),
        cancel_lock=_env_lock(env),
        log_level=(env.get("SMSLEDGER_LOG_LEVEL") or Settings.log_level).lower(),
        log_format=(env.get("SMSLEDGER_LOG_FORMAT") or Settings.log_format).lower(),
        metrics_port=_env_int(env, "SMSLEDGER_METRICS_PORT", Settings.metrics_port),
        metrics_host=env.get("SMSLEDGER_METRICS_HOST") or Settings.metrics_host,
        max_line_bytes=max_line_bytes,
        allowed_lateness=_env_duration(env, "SMSLEDGER_ALLOWED_LATENESS",
                                       DEFAULT_ALLOWED_LATENESS),
        max_future=_env_duration(env, "SMSLEDGER_MAX_FUTURE", DEFAULT_MAX_FUTURE),
    )


def _env_lock(env: Mapping[str, str]) -> int | None:
    raw = env.get("SMSLEDGER_CANCEL_LOCK")
    return None if raw is None or raw == "" else _env_int(env, "SMSLEDGER_CANCEL_LOCK", 0)
