"""No log line of the Kafka clients shows a SASL password, whatever the log level."""

from __future__ import annotations

import logging
import socket

import pytest

from smsledger.infra.kafka.clients import BrokerUnavailable, make_admin
from smsledger.infra.settings import KafkaSettings


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_admin_clients_debug_log_of_its_configuration_hides_the_sasl_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = KafkaSettings(bootstrap=f"127.0.0.1:{closed_port()}", sasl_mechanism="PLAIN",
                             sasl_username="svc", sasl_password="kafka-secret-pw")
    with caplog.at_level(logging.DEBUG, logger="kafka"), pytest.raises(BrokerUnavailable):
        make_admin(settings, bootstrap_timeout_ms=300)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "with configuration" in logged
    assert "kafka-secret-pw" not in logged
    assert "'sasl_plain_password': '***'" in logged
