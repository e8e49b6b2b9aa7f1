"""Command-line commands of the distributed runtime: consume, relay, broker, produce, topics."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from smsledger.infra.settings import KafkaSettings, Settings, Topics

# `consume --stop-when-idle` gave up waiting for the group to consume every partition.
NOT_DRAINED = 3


def _kafka_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", help="host:port[,host:port] (env SMSLEDGER_BOOTSTRAP)")
    parser.add_argument("--group", help="consumer group id (env SMSLEDGER_GROUP_ID)")
    parser.add_argument("--topic-provider", help="env SMSLEDGER_TOPIC_PROVIDER")
    parser.add_argument("--topic-customer", help="env SMSLEDGER_TOPIC_CUSTOMER")
    parser.add_argument("--topic-payments", help="env SMSLEDGER_TOPIC_PAYMENTS")
    parser.add_argument("--topic-ledger", help="env SMSLEDGER_TOPIC_LEDGER")
    parser.add_argument("--batch-size", type=int, help="records per transaction")


def kafka_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    kafka: KafkaSettings = settings.kafka
    topics = Topics(
        provider=args.topic_provider or kafka.topics.provider,
        customer=args.topic_customer or kafka.topics.customer,
        payments=args.topic_payments or kafka.topics.payments,
        ledger=args.topic_ledger or kafka.topics.ledger,
    )
    kafka = replace(
        kafka, bootstrap=args.bootstrap or kafka.bootstrap, group_id=args.group or kafka.group_id,
        topics=topics, batch_size=args.batch_size or kafka.batch_size,
    )
    return replace(settings, kafka=kafka)


def add_runtime_commands(sub: Any, common: argparse.ArgumentParser, command: Any) -> None:
    p = sub.add_parser(
        "consume", parents=[common], help="the Kafka consumer",
        description="Consume the inbound topics as a member of the group. Each partition "
                    "keeps its own clock (its clock.ticks; the wall clock once caught up), "
                    "which settles what lies more than SMSLEDGER_ALLOWED_LATENESS (default "
                    "5m) behind it; a record more than SMSLEDGER_MAX_FUTURE (default 1d) "
                    "ahead of the wall clock is dead-lettered (future).")
    _kafka_options(p)
    p.add_argument("--stop-when-idle", type=float, metavar="SECONDS",
                   help="exit 0 once nothing has arrived for this long and the whole group "
                        "has consumed every inbound partition; exit 3 naming the partitions "
                        "left if the group stops consuming them")

    p = sub.add_parser("relay", parents=[common], help="publish domain events to Kafka")
    _kafka_options(p)
    p.add_argument("--stop-when-idle", type=float, metavar="SECONDS")

    p = sub.add_parser("produce", parents=[common], help="publish a JSONL stream to the topics")
    _kafka_options(p)
    p.add_argument("file", metavar="FILE|-")

    p = sub.add_parser("topics", parents=[common], help="create the topics co-partitioned")
    _kafka_options(p)
    p.add_argument("action", choices=["create", "describe"])
    p.add_argument("--partitions", type=int, default=3)

    p = sub.add_parser("broker", parents=[common], help="run a local Kafka-protocol broker")
    p.add_argument("--port", type=int, help="loopback port (default: a free one)")

    p = sub.add_parser("bench", parents=[common], help="the benchmark")
    p.add_argument("--messages", type=int, default=200_000, metavar="N",
                   help="size of the simulated workload (default 200000)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object (ingest_msgs_per_s is one process's; see README)")
    p.add_argument("--bootstrap", help="measure Kafka through this broker (default: a local one)")
    p.add_argument("--no-kafka", action="store_true", help="skip the Kafka measurement")
    p.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL measurement")

    command("consume")(cmd_consume)
    command("relay")(cmd_relay)
    command("produce")(cmd_produce)
    command("topics")(cmd_topics)
    command("broker")(cmd_broker)
    command("bench")(cmd_bench)


def _run_on_ledger(args: argparse.Namespace, settings: Settings, work: Any) -> Any:
    """Open the ledger with the Kafka settings of the command line, run, close."""
    from smsledger.infra.bootstrap import bootstrap

    settings = kafka_settings(args, settings)
    ledger = bootstrap(settings)
    try:
        return work(ledger, settings, stop_when_idle=args.stop_when_idle), settings
    finally:
        ledger.close()


def cmd_consume(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.infra.kafka.runtime import consume

    report, _ = _run_on_ledger(args, settings, consume)
    print(f"consumed {report.records} records in {report.batches} transactions, "
          f"{report.dead_letters_published} dead letters published, "
          f"{report.rebalances} assignments, {report.late} late")
    if report.unconsumed:
        left = ", ".join(map(str, report.unconsumed))
        print(f"smsledger consume: stopped idle with partitions not drained: {left}",
              file=sys.stderr)
        return NOT_DRAINED
    return 0


def cmd_relay(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.infra.kafka.runtime import relay

    report, settings = _run_on_ledger(args, settings, relay)
    print(f"published {report.published} events to {settings.kafka.topics.ledger}, "
          f"position {report.position}")
    return 0


def cmd_produce(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.infra.cli.inputs import open_input
    from smsledger.infra.kafka.produce import produce_jsonl

    settings = kafka_settings(args, settings)
    with open_input(args.file) as stream:
        report = produce_jsonl(stream, settings.kafka)
    per_topic = ", ".join(f"{t}: {n}" for t, n in sorted(report.messages.items()))
    print(f"produced {report.total} messages ({per_topic}); unroutable {report.unroutable}")
    return 0


def cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.infra.kafka.topics import create_topics, describe_partitions

    settings = kafka_settings(args, settings)
    if args.action == "create":
        counts = create_topics(settings.kafka, args.partitions)
    else:
        counts = describe_partitions(settings.kafka)
    for topic, partitions in sorted(counts.items()):
        print(f"{topic}\t{partitions} partitions")
    return 0


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.infra.kafka.broker import run_broker_forever

    run_broker_forever(args.port)
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.infra.bench.run import run_bench

    return run_bench(args, settings, out=sys.stdout)
