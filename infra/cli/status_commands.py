"""`smsledger status`: positions, lags and journal counts of a store (and of a broker when
--bootstrap is given); exit 1 when the read models lag more than --max-lag, for health checks."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from smsledger.infra.cli.render import print_json, print_table
from smsledger.infra.observability.status import store_status
from smsledger.infra.settings import Settings
from smsledger.infra.stores.urls import masked

DEFAULT_MAX_LAG = 1000


def add_status_commands(sub: Any, common: argparse.ArgumentParser, command: Any) -> None:
    p = sub.add_parser("status", parents=[common],
                       help="positions, lags and journal counts; exit 1 when read models lag")
    p.add_argument("--bootstrap", help="also read from this broker (host:port[,host:port])"
                   " the end offsets of the inbound topics (env SMSLEDGER_TOPIC_*) and of"
                   " every topic the group stored offsets of")
    p.add_argument("--group", help="consumer group whose Kafka offsets to show"
                   " (env SMSLEDGER_GROUP_ID)")
    p.add_argument("--max-lag", type=int, default=DEFAULT_MAX_LAG, metavar="EVENTS",
                   help="exit 1 when the read models are more than this many events behind"
                   f" the log (default {DEFAULT_MAX_LAG})")
    p.add_argument("--json", action="store_true", help="one JSON object")
    command("status")(cmd_status)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.infra.bootstrap import open_existing

    ledger = open_existing(settings)
    try:
        opened = ledger.opened
        status = store_status(opened.database, opened.recorder.last_notification_id(),
                              opened.store.watermark(), opened.store.policy_name())
    finally:
        ledger.close()
    status = {"store": masked(settings.store), **status}
    if args.bootstrap:
        status["kafka"] = kafka_status(args, settings, status["consumer_offsets"])
    behind = status["read_model_lag"] > args.max_lag
    status["healthy"] = not behind
    if args.json:
        print_json(status)
    else:
        print_status(status, args.max_lag)
    return 1 if behind else 0


def kafka_status(args: argparse.Namespace, settings: Settings,
                 stored_rows: list[dict[str, Any]]) -> dict[str, Any]:
    from smsledger.infra.kafka.offsets import committed_offsets, end_offsets, partition_lag

    kafka = replace(settings.kafka, bootstrap=args.bootstrap,
                    group_id=args.group or settings.kafka.group_id)
    stored = {(r["topic"], r["partition"]): r["next_offset"] for r in stored_rows
              if r["consumer_group"] == kafka.group_id}
    # The inbound topics of the settings, and whatever topics the group stored offsets of.
    topics = {*kafka.topics.inbound, *(topic for topic, _ in stored)}
    partitions = partition_lag(stored, end_offsets(kafka, topics, stored), committed_offsets(kafka))
    return {"bootstrap": kafka.bootstrap, "group": kafka.group_id, "partitions": partitions,
            "lag": sum(p["lag"] for p in partitions)}



def print_status(status: dict[str, Any], max_lag: int) -> None:
    journal = status["journal"]
    lines = [
        ("store", status["store"]),
        ("policy", status["policy"] or "-"),
        ("watermark", status["watermark"] or "-"),
        ("log", f"{status['log_position']} events"),
        ("read models", f"at {status['read_model_position']}, "
                        f"{status['read_model_lag']} events behind"),
        ("journal", ", ".join(f"{k.replace('_', ' ')} {'-' if v is None else v}"
                              for k, v in journal.items())),
        ("chain head", _chain(status["chain_head"])),
    ]
    lines += [(f"relay {r['name']}", f"at {r['position']}, {r['lag']} events behind")
              for r in status["relays"]]
    for key, value in lines:
        print(f"{key:<13}{value}")
    if status["consumer_offsets"]:
        print("\noffsets stored with the ledger:")
        print_table(status["consumer_offsets"])
    if "kafka" in status:
        kafka = status["kafka"]
        print(f"\nkafka {kafka['bootstrap']}, group {kafka['group']}: lag {kafka['lag']}")
        print_table(kafka["partitions"])
    verdict = ("healthy" if status["healthy"] else
               f"UNHEALTHY: read models {status['read_model_lag']} events behind"
               f" (more than --max-lag {max_lag})")
    print(f"\nstatus: {verdict}")


def _chain(head: dict[str, Any] | None) -> str:
    if head is None:
        return "- (no hash chain in this store)"
    return ", ".join(f"{k} {v}" for k, v in head.items())
