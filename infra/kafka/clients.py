"""kafka-python producer, consumer and admin factories built from `KafkaSettings`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import KafkaConnectionError, KafkaTimeoutError

from smsledger.infra.settings import KafkaSettings

# How long a client may try to reach the cluster before we report it unreachable.
BOOTSTRAP_TIMEOUT_MS = 10_000

_Client = TypeVar("_Client")


# Client options that hold secrets; kafka-python logs its configuration at debug level.
SECRET_OPTIONS = frozenset({"sasl_plain_password", "ssl_password", "sasl_oauth_token_provider"})


class BrokerUnavailable(RuntimeError):
    """The Kafka cluster named by the settings cannot be reached."""


class _HideSecrets(logging.Filter):
    """Replaces the secret options in a logged configuration with `***`."""

    def filter(self, record: logging.LogRecord) -> bool:
        # A lone dict argument is kept as the record's args themselves (logging's rule).
        if isinstance(record.args, dict):
            record.args = _hidden(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(_hidden(a) if isinstance(a, dict) else a for a in record.args)
        return True


def _hidden(options: dict[Any, Any]) -> dict[Any, Any]:
    return {k: "***" if k in SECRET_OPTIONS and v is not None else v for k, v in options.items()}


_HIDE_SECRETS = _HideSecrets()


def _hide_logged_secrets() -> None:
    """On the logger of the client that logs its whole configuration (kafka-python 3.0.12:
    the admin client, at debug level); idempotent."""
    logger = logging.getLogger("kafka.admin.client")
    if _HIDE_SECRETS not in logger.filters:
        logger.addFilter(_HIDE_SECRETS)


def make_producer(settings: KafkaSettings, **overrides: Any) -> KafkaProducer:
    """A producer of raw bytes: acks from all replicas, idempotent, so retries keep order."""
    options = {
        **settings.client_options(),
        "client_id": "smsledger-producer",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
        **overrides,
    }
    return _connect(KafkaProducer, "producer", settings, options)


def make_consumer(settings: KafkaSettings, **overrides: Any) -> KafkaConsumer:
    """A group consumer of raw bytes that never commits on its own.

    The range assignor is explicit: with equal partition counts it hands partition
    N of every inbound topic to the same member, so one member owns an account.
    The caller subscribes (with its rebalance listener) and seeks.
    """
    options = {
        **settings.client_options(),
        "client_id": "smsledger-consumer",
        "group_id": settings.group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "partition_assignment_strategy": [RangePartitionAssignor],
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        "max_poll_interval_ms": settings.max_poll_interval_ms,
        "max_poll_records": settings.batch_size,
        "allow_auto_create_topics": False,
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
        **overrides,
    }
    return _connect(KafkaConsumer, "consumer", settings, options)


def make_admin(settings: KafkaSettings, **overrides: Any) -> KafkaAdminClient:
    """An admin client for creating and describing topics."""
    options = {
        **settings.client_options(),
        "client_id": "smsledger-admin",
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
        **overrides,
    }
    return _connect(KafkaAdminClient, "admin client", settings, options)


def _connect(
    factory: Callable[..., _Client], role: str, settings: KafkaSettings, options: dict[str, Any]
) -> _Client:
    # kafka-python 3 bootstraps eagerly in the constructor and reports an
    # unreachable cluster as a timeout (it no longer raises NoBrokersAvailable).
    _hide_logged_secrets()
    try:
        return factory(**options)
    except (KafkaTimeoutError, KafkaConnectionError) as error:
        raise BrokerUnavailable(
            f"Kafka {role}: no broker reachable at {settings.bootstrap} "
            f"({settings.security_protocol}): {error}"
        ) from None
