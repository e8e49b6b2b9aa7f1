"""The benchmark's Kafka phase: produce the workload, consume it with exactly-once effect."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from smsledger.infra.bench.child import peak_rss_mb, reset_peak_rss
from smsledger.infra.bench.phase import Phase
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import KafkaSettings, Settings, Topics


def kafka_phase(
    result: Any, jsonl: Path, workdir: Path, policy: str, bootstrap_address: str | None,
    configured: KafkaSettings | None = None,
) -> None:
    """Produce the workload to fresh topics and consume it, with the batch and buffer
    sizes of `configured` (the settings the bench was started with)."""
    try:
        if bootstrap_address is None:
            from smsledger.infra.kafka.broker import LocalBroker

            with LocalBroker() as broker:
                _measure(result, jsonl, workdir, policy, broker.address, configured, Phase,
                         reset_peak_rss, peak_rss_mb)
        else:
            _measure(result, jsonl, workdir, policy, bootstrap_address, configured, Phase,
                     reset_peak_rss, peak_rss_mb)
    except RuntimeError as error:
        result.notes.append(f"Kafka not measured: {error}")


def _measure(result: Any, jsonl: Path, workdir: Path, policy: str, address: str,
             configured: KafkaSettings | None, phase: Any, reset: Any, peak: Any) -> None:
    from smsledger.infra.kafka.produce import produce_jsonl
    from smsledger.infra.kafka.runtime import consume
    from smsledger.infra.kafka.topics import create_topics

    stamp = str(int(time.time()))
    topics = Topics(provider=f"bench{stamp}.provider", customer=f"bench{stamp}.customer",
                    payments=f"bench{stamp}.payments", ledger=f"bench{stamp}.ledger")
    kafka = replace(configured or KafkaSettings(), bootstrap=address,
                    group_id=f"bench{stamp}", topics=topics)
    create_topics(kafka, partitions=3)
    with jsonl.open("rb") as stream:
        produce_jsonl(stream, kafka)
    settings = Settings(store=f"sqlite:///{workdir / 'kafka.db'}", policy=policy, kafka=kafka)
    ledger = bootstrap(settings)
    reset()
    report = consume(ledger, settings, stop_when_idle=3.0)
    ledger.close()
    # From the first assignment to the last applied batch: the group join before and the
    # idle wait after are the broker's and the test's time, not the engine's.
    result.phases["kafka"] = phase("Kafka consume, exactly once (3 partitions)",
                                   report.records, max(report.working_seconds, 1e-6), peak(),
                                   "records")
    result.kafka = {"records": report.records, "batches": report.batches,
                    "peak_buffered": report.peak_buffered}
