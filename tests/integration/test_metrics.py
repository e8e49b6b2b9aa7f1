"""`consume --metrics-port` during a real consume: the scraped values against the records
produced and what the store holds."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from smsledger.consumers.ingest import ingest_lines
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.kafka.broker import free_port
from smsledger.infra.kafka.clients import make_producer
from smsledger.infra.kafka.produce import produce_jsonl
from smsledger.infra.kafka.topics import create_topics
from smsledger.infra.settings import KafkaSettings, Settings
from tests.integration.kafka_support import (
    cli_env,
    small_batches,
    sqlite_url,
    start_consumer,
    workload,
)

pytestmark = pytest.mark.kafka

HOSTILE = [b"{not json", b'{"id":"h1","type":"nope","at":"2026-06-01T00:00:00Z"}']
# A valid deposit for an account of the workload, at the start of its day: it arrives
# after the day's traffic, far behind its partition's clock, and is applied late.
LATE = (b'{"id":"late-1","type":"deposit.succeeded","at":"2026-06-01T00:00:00Z","data":'
        b'{"account":"acc-0001","deposit":"late-d1","amount":100,"currency":"USD",'
        b'"method":"card"}}')


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


def total(values: dict, name: str) -> float:
    return sum(v for (n, _), v in values.items() if n == name)


def by_label(values: dict, name: str, label: str) -> dict[str, float]:
    return {dict(labels)[label]: v for (n, labels), v in values.items() if n == name}


def test_scraped_metrics_match_the_records_produced_and_the_store(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    lines = workload(accounts=20, seed=7)
    create_topics(kafka_settings, partitions=2)
    report = produce_jsonl(lines, kafka_settings)
    store = sqlite_url(tmp_path / "metrics.db")
    producer = make_producer(kafka_settings)
    for raw in HOSTILE:
        producer.send(kafka_settings.topics.customer, key=b"acc-0001", value=raw)
    producer.send(kafka_settings.topics.payments, key=b"acc-0001", value=LATE)
    producer.flush()
    producer.close()
    produced = report.total + len(HOSTILE) + 1  # clock ticks are sent to every partition
    port = free_port()
    member = start_consumer(store, small_batches(kafka_settings, 40), "--metrics-port", str(port),
                            "--log-format", "json")
    try:
        deadline = time.monotonic() + 120
        values: dict = {}
        while time.monotonic() < deadline:
            assert member.poll() is None, member.communicate()[1].decode()[-2000:]
            try:
                values = scrape(port)
            except OSError:
                values = {}
            if total(values, "smsledger_consumer_records_total") >= produced:
                break
            time.sleep(0.2)
        time.sleep(1.5)  # one more lag measurement after the last batch
        values = scrape(port)
    finally:
        member.send_signal(signal.SIGTERM)
        _, errors = member.communicate(timeout=30)
    logged = [orjson.loads(line) for line in errors.splitlines()]  # every line one object
    assert all({"time", "level", "component", "message"} <= set(entry) for entry in logged)
    letters = [e for e in logged if e["message"].startswith("dead letter")]
    assert len(letters) == len(HOSTILE)
    assert all(e["level"] == "warning" and e["topic"] == kafka_settings.topics.customer
               and isinstance(e["partition"], int) and isinstance(e["offset"], int)
               for e in letters)
    ledger = bootstrap(Settings(store=store))
    try:
        db = ledger.opened.database
        rejections = Counter(r[0] for r in db.query("SELECT reason FROM rejections"))
        dead = Counter(r[0] for r in db.query("SELECT reason FROM dead_letters"))
        late = [r[0] for r in db.query("SELECT message FROM late_messages")]
        watermark = ledger.opened.store.watermark()
    finally:
        ledger.close()
    assert total(values, "smsledger_consumer_records_total") == produced
    batches = total(values, "smsledger_consumer_batches_total")
    assert batches >= produced / 40
    assert total(values, "smsledger_consumer_batch_seconds_count") == batches
    assert by_label(values, "smsledger_consumer_rejections_total", "reason") == rejections
    assert sum(rejections.values()) > 0, "the workload has rejections to count"
    assert by_label(values, "smsledger_consumer_dead_letters_total", "reason") == dead
    assert sum(dead.values()) == len(HOSTILE)
    assert late == ["late-1"]
    assert total(values, "smsledger_consumer_late_messages_total") == len(late)
    lag = [v for (n, _), v in values.items() if n == "smsledger_consumer_lag"]
    assert lag == [0] * 6  # 3 topics x 2 partitions, all read
    assert watermark is not None
    assert total(values, "smsledger_watermark_timestamp_seconds") == watermark.timestamp()
    assert total(values, "smsledger_watermark_delay_seconds") > 0
    assert time.time() - total(values, "smsledger_consumer_last_commit_timestamp_seconds") < 60
    assert total(values, "smsledger_consumer_assigned_partitions") == 6


def test_relay_metrics_count_what_was_published_and_the_lag_falls_to_zero(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings, partitions=2)
    store = sqlite_url(tmp_path / "relay.db")
    ledger = bootstrap(Settings(store=store))
    try:
        ingest_lines(ledger.engine(), workload(accounts=10, seed=4), source="test")
        events = ledger.opened.recorder.last_notification_id()
    finally:
        ledger.close()
    port = free_port()
    relay = subprocess.Popen(
        [sys.executable, "-m", "smsledger.infra.cli", "relay", "--store", store,
         "--metrics-port", str(port)], env=cli_env(kafka_settings),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        values: dict = {}
        while time.monotonic() < deadline:
            assert relay.poll() is None, relay.communicate()[1].decode()[-2000:]
            try:
                values = scrape(port)
            except OSError:
                values = {}
            if (total(values, "smsledger_relay_events_total") >= events
                    and total(values, "smsledger_relay_position") == events):
                break
            time.sleep(0.2)
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.communicate(timeout=30)
    assert total(values, "smsledger_relay_events_total") == events
    assert total(values, "smsledger_relay_log_position") == events
    assert total(values, "smsledger_relay_lag") == 0
    assert time.time() - total(values, "smsledger_relay_last_publish_timestamp_seconds") < 60
