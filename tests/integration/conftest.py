"""Fixtures that start real services: a local Tansu Kafka-protocol broker."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

from smsledger.infra.kafka.broker import BrokerError, LocalBroker
from smsledger.infra.settings import KafkaSettings, Topics


def service_unavailable(reason: str) -> NoReturn:
    """Fail when CI requires the services (SMSLEDGER_REQUIRE_SERVICES=1), else skip."""
    if os.environ.get("SMSLEDGER_REQUIRE_SERVICES") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def unique_topics() -> Topics:
    """Topic names no other test uses, so tests sharing the broker do not interfere."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    return Topics(
        provider=f"{prefix}.provider",
        customer=f"{prefix}.customer",
        payments=f"{prefix}.payments",
        ledger=f"{prefix}.ledger",
    )


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalBroker]:
    broker = LocalBroker()
    try:
        broker.start()
    except BrokerError as error:
        service_unavailable(f"cannot start the Tansu broker: {error}")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_settings(kafka_broker: LocalBroker) -> KafkaSettings:
    """Settings for the shared broker, with fresh topic names and group id."""
    topics = unique_topics()
    return kafka_broker.kafka_settings(topics=topics, group_id=f"{topics.provider}.group")


# PostgreSQL: a fresh schema per store, dropped afterwards.

SERVER = os.environ.get("SMSLEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def admin_connection() -> Any:
    import psycopg

    try:
        return psycopg.connect(SERVER, autocommit=True, connect_timeout=3)
    except psycopg.Error as error:
        reason = f"PostgreSQL unreachable at {SERVER}: {str(error).splitlines()[0]}"
        if os.environ.get("SMSLEDGER_REQUIRE_SERVICES") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def pg_schemas() -> Iterator[Any]:
    """Makes store URLs on fresh unique schemas; drops every schema afterwards."""
    admin = admin_connection()
    made: list[str] = []

    def new_url() -> str:
        schema = f"test_{uuid.uuid4().hex[:12]}"
        made.append(schema)
        return f"{SERVER}?schema={schema}"

    yield new_url
    for schema in made:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    admin.close()


@pytest.fixture
def pg_url(pg_schemas: Any) -> str:
    return pg_schemas()


