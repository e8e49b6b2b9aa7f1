"""Command-line commands of the distributed runtime: consume, relay, broker, produce, topics."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, replace
from typing import Any

from smsledger.infra.cli.policy_options import add_cancel_lock
from smsledger.infra.cli.render import count, print_json
from smsledger.infra.settings import KafkaSettings, Settings, Topics

INBOUND_TOPICS = ("provider", "customer", "payments")
ALL_TOPICS = (*INBOUND_TOPICS, "ledger")

# `consume --stop-when-idle` gave up waiting for the group to consume every partition.
NOT_DRAINED = 3



def _kafka_options(
    parser: argparse.ArgumentParser, *, topics: tuple[str, ...], group: bool = False,
    batch: bool = False,
) -> None:
    """The Kafka options a command uses, and only those."""
    parser.add_argument("--bootstrap", help="host:port[,host:port] (env SMSLEDGER_BOOTSTRAP)")
    if group:
        parser.add_argument("--group", help="consumer group id (env SMSLEDGER_GROUP_ID)")
    for role in topics:
        parser.add_argument(f"--topic-{role}", help=f"env SMSLEDGER_TOPIC_{role.upper()}")
    if batch:
        parser.add_argument("--batch-size", type=int,
                            help="records per transaction (env SMSLEDGER_KAFKA_BATCH)")


def kafka_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with the Kafka options the command line gave (a command without an
    option keeps the environment's value)."""
    kafka: KafkaSettings = settings.kafka

    def given(name: str) -> Any:
        return getattr(args, name, None)

    topics = Topics(
        provider=given("topic_provider") or kafka.topics.provider,
        customer=given("topic_customer") or kafka.topics.customer,
        payments=given("topic_payments") or kafka.topics.payments,
        ledger=given("topic_ledger") or kafka.topics.ledger,
    )
    kafka = replace(
        kafka, bootstrap=given("bootstrap") or kafka.bootstrap,
        group_id=given("group") or kafka.group_id, topics=topics,
        batch_size=given("batch_size") or kafka.batch_size,
    )
    timeouts = {"broker_timeout_s": getattr(args, "broker_timeout", None),
                "assignment_timeout_s": getattr(args, "assignment_timeout", None)}
    kafka = replace(kafka, **{k: v for k, v in timeouts.items() if v is not None})
    return settings.with_overrides(kafka=kafka, metrics_port=getattr(args, "metrics_port", None),
                                   metrics_host=getattr(args, "metrics_host", None))


def _metrics_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus metrics on http://HOST:PORT/metrics"
                        " (env SMSLEDGER_METRICS_PORT; default off)")
    parser.add_argument("--metrics-host", metavar="HOST",
                        help="address the metrics listen on (env SMSLEDGER_METRICS_HOST;"
                        " default 127.0.0.1)")


def add_runtime_commands(sub: Any, common: argparse.ArgumentParser, command: Any) -> None:
    p = sub.add_parser(
        "consume", parents=[common], help="the Kafka consumer",
        description="Consume the inbound topics as a member of the group. Each partition "
                    "keeps its own clock (its clock.ticks; the wall clock once caught up), "
                    "which settles what lies more than SMSLEDGER_ALLOWED_LATENESS (default "
                    "5m) behind it; a record more than SMSLEDGER_MAX_FUTURE (default 1d) "
                    "ahead of the wall clock is dead-lettered (future).")
    _kafka_options(p, topics=INBOUND_TOPICS, group=True, batch=True)
    p.add_argument("--stop-when-idle", type=float, metavar="SECONDS",
                   help="exit 0 once nothing has arrived for this long and the whole group "
                        "has consumed every inbound partition; exit 3 naming the partitions "
                        "left if the group stops consuming them")
    add_cancel_lock(p)
    p.add_argument("--json", action="store_true", help="the summary as one JSON object")
    p.add_argument("--broker-timeout", type=float, metavar="SECONDS",
                   help="stop, exit 2, once no broker was reachable for this long"
                   " (env SMSLEDGER_BROKER_TIMEOUT_S; default 60)")
    p.add_argument("--assignment-timeout", type=float, metavar="SECONDS",
                   help="with --stop-when-idle: stop, exit 2, once no partitions were"
                   " assigned for this long; without: warn (env SMSLEDGER_ASSIGNMENT_TIMEOUT_S;"
                   " default 60)")
    _metrics_options(p)

    p = sub.add_parser("relay", parents=[common], help="publish domain events to Kafka")
    _kafka_options(p, topics=("ledger",))
    p.add_argument("--stop-when-idle", type=float, metavar="SECONDS")
    _metrics_options(p)

    p = sub.add_parser("produce", help="publish a JSONL stream to the topics as it is read")
    _kafka_options(p, topics=ALL_TOPICS)
    p.add_argument("file", metavar="FILE|-")

    p = sub.add_parser("topics", help="create the topics co-partitioned")
    _kafka_options(p, topics=ALL_TOPICS)
    p.add_argument("action", choices=["create", "describe"])
    p.add_argument("--partitions", type=int, default=3)

    p = sub.add_parser("broker", help="run a local Kafka-protocol broker")
    p.add_argument("--port", type=int, help="loopback port (default: a free one)")

    p = sub.add_parser("bench", parents=[common], help="the benchmark")
    p.add_argument("--messages", type=int, default=200_000, metavar="N",
                   help="size of the simulated workload (default 200000)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object (ingest_msgs_per_s is one process's; see README)")
    p.add_argument("--bootstrap", help="measure Kafka through this broker (default: a local one)")
    p.add_argument("--no-kafka", action="store_true", help="skip the Kafka measurement")
    p.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL measurement")
    p.add_argument("--scale", type=int, metavar="N",
                   help="also ingest N messages the default way and report the rate of every"
                   " slice, the raw executemany baseline, audit and rebuild at N (JSON 'scale')")
    p.add_argument("--slice", type=int, default=200_000, metavar="M",
                   help="messages per slice for --scale (default 200000)")
    p.add_argument("--scale-only", action="store_true",
                   help="with --scale: skip the phases at --messages")
    p.add_argument("--scale-store", metavar="URL",
                   help="with --scale: ingest into this store (e.g. postgresql://…; a schema of"
                   " its own when the URL names none, dropped after; default a SQLite file)")

    command("consume")(cmd_consume)
    command("relay")(cmd_relay)
    command("produce")(cmd_produce)
    command("topics")(cmd_topics)
    command("broker")(cmd_broker)
    command("bench")(cmd_bench)


def _run_on_ledger(
    args: argparse.Namespace, settings: Settings, work: Any, *, create: bool
) -> Any:
    """Open the ledger with the Kafka settings of the command line, run, close. Only a
    writer (`create`) may make a new store."""
    from smsledger.infra.bootstrap import bootstrap

    settings = kafka_settings(args, settings)
    ledger = bootstrap(settings, create=create)
    try:
        return work(ledger, settings, stop_when_idle=args.stop_when_idle), settings
    finally:
        ledger.close()


def cmd_consume(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.infra.kafka.runtime import consume

    report, _ = _run_on_ledger(args, settings, consume, create=True)
    if args.json:
        print_json(asdict(report))
        return 0
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

    report, settings = _run_on_ledger(args, settings, relay, create=False)
    print(f"published {report.published} events to {settings.kafka.topics.ledger}, "
          f"position {report.position}")
    return 0


def cmd_produce(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.infra.cli.inputs import open_input
    from smsledger.infra.kafka.produce import produce_jsonl

    settings = kafka_settings(args, settings)
    with open_input(args.file) as stream:
        report = produce_jsonl(stream, settings.kafka)
    for sentence in produce_summary(report, settings.kafka.topics):
        print(sentence)
    return 0


def produce_summary(report: Any, topics: Topics) -> list[str]:
    """What `produce` did, so that the counts add up: lines read, messages sent, and why
    they differ."""
    per_topic = ", ".join(f"{t} {n}" for t, n in sorted(report.messages.items()))
    said = [f"read {count(report.lines, 'line')}, published {count(report.total, 'message')}"
            f" ({per_topic})"]
    if report.ticks:
        said.append(f"clock ticks: {count(report.ticks, 'line')}, each copied to all "
                    f"{report.tick_messages // report.ticks} partitions of {topics.customer} "
                    f"so that every consumer sees it ({report.tick_messages} of the messages)")
    if report.held:
        said.append(f"held until their order or refund request was read: "
                    f"{count(report.held, 'line')}, then sent to its account's partition")
    if report.unroutable:
        where = "; ".join(f"{n} to {place}" for place, n in sorted(report.unroutable_to.items()))
        said.append(f"unroutable: {count(report.unroutable, 'line')} (not a JSON object, no "
                    f"account, or naming an order or refund request this input never "
                    f"requested), sent {where}, where the consumer dead-letters them with "
                    "their reason")
    if report.blank:
        said.append(f"blank lines skipped: {report.blank}")
    return said


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
