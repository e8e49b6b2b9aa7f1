"""`smsledger bench`: one seeded workload, measured phase after phase in one process.

Phases: ingest on a SQLite file (JSONL to caught-up projections) in one process, and again
with the read models folded by a second process beside it; the same on PostgreSQL
and through Kafka when reachable, the naive baseline on a prefix of the same messages,
the raw insert limit (executemany of the same stored-event rows in one transaction), and
a rebuild of the read models. Ratios are taken within the run, so they travel between
machines better than absolute figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from smsledger.domain.policies import policy_named
from smsledger.infra.bench.chain_cost import chain_cost
from smsledger.infra.bench.child import ingest_into
from smsledger.infra.bench.naive import naive_ingest
from smsledger.infra.bench.phase import Phase, child_phase, measure
from smsledger.infra.bench.scale import keyed_target, raw_insert, scale_phase
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.cli.render import print_json, print_table
from smsledger.infra.settings import DEFAULT_POLICY, Settings
from smsledger.infra.simulation.simulator import config_for_size, simulate_lines
from smsledger.projections.queries import run_query

NAIVE_MESSAGES = 5_000
POSTGRES_URL = os.environ.get(
    "SMSLEDGER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


@dataclass
class BenchRun:
    messages: int
    phases: dict[str, Phase] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    # The Kafka phase's consumer: records, batches, the most records held for the merge.
    kafka: dict[str, int] | None = None
    scale: dict[str, Any] | None = None  # `--scale N`: the figures of the scale phase
    chain: dict[str, Any] | None = None  # the hash chain's share of the SQLite ingest


def _ingest_file(store: str, jsonl: Path, policy: str) -> Any:
    """In this process, one process's way; returns the open ledger."""
    ledger = bootstrap(Settings(store=store, policy=policy))
    ingest_into(ledger, str(jsonl))
    return ledger


def raw_limit(source_db: Path, target_db: Path) -> tuple[int, float]:
    """executemany of the same stored-event rows into an empty table of the store's layout,
    one transaction."""
    rows = sqlite3.connect(source_db).execute(
        "SELECT originator_id, originator_version, topic, state, digest, aggregate_key"
        " FROM stored_events ORDER BY rowid").fetchall()
    connection = keyed_target(target_db)
    started = time.perf_counter()
    raw_insert(connection, rows)
    elapsed = time.perf_counter() - started
    connection.close()
    return len(rows), elapsed


def run(args: argparse.Namespace, settings: Settings, workdir: Path) -> BenchRun:
    policy = settings.policy or DEFAULT_POLICY
    scale = (scale_phase(args.scale, workdir, policy, args.slice, args.scale_store)
             if args.scale else None)
    if scale is not None and args.scale_only:
        return BenchRun(messages=0, scale=scale)
    result = _standard(args, settings, workdir, policy)
    result.scale = scale
    return result


def _standard(args: argparse.Namespace, settings: Settings, workdir: Path, policy: str
              ) -> BenchRun:
    jsonl = workdir / "messages.jsonl"
    lines = list(simulate_lines(config_for_size(args.messages, seed=1)))
    jsonl.write_bytes(b"".join(lines))
    result = BenchRun(messages=len(lines))
    db = workdir / "fast.db"
    store = f"sqlite:///{db}"
    result.phases["ingest_sqlite"] = child_phase(
        "ingest (SQLite file, one process)", "msgs", "ingest",
        f"sqlite:///{workdir / 'single.db'}", policy, str(jsonl))
    result.phases["ingest_alongside"] = child_phase(
        "ingest (SQLite file, read models in a 2nd process)", "msgs", "ingest-alongside",
        store, policy, str(jsonl))
    result.phases["rebuild"] = child_phase("rebuild read models", "events", "rebuild", store,
                                           policy)
    result.chain, result.checks["chain_digests_match"] = chain_cost(
        workdir / "single.db", result.phases["ingest_sqlite"].seconds)
    ledger = bootstrap(Settings(store=store, policy=policy))
    result.checks["rebuild_identical"] = _rebuild_identical(ledger)
    ledger.close()

    rows, raw_seconds = raw_limit(db, workdir / "raw.db")
    result.phases["raw_limit"] = Phase("raw executemany limit", rows, raw_seconds, 0.0, "rows")
    _naive(result, lines[:NAIVE_MESSAGES], workdir, policy)
    if not args.no_postgres:
        _postgres(result, jsonl, policy)
    if not args.no_kafka:
        from smsledger.infra.bench.kafka import kafka_phase

        kafka_phase(result, jsonl, workdir, policy, args.bootstrap, settings.kafka)
    return result


def _rebuild_identical(ledger: Any) -> bool:
    before = {q: run_query(ledger.opened.database, q) for q in ("balances", "orders", "deposits",
                                                             "refunds", "stats")}
    ledger.rebuild()
    after = {q: run_query(ledger.opened.database, q) for q in before}
    return before == after


def _naive(result: BenchRun, lines: list[bytes], workdir: Path, policy: str) -> None:
    naive_db, fast_db = workdir / "naive.db", workdir / "fast-prefix.db"
    result.phases["naive"] = measure(
        "naive baseline", "msgs",
        lambda: (naive_ingest(str(naive_db), lines, policy_named(policy)), len(lines))[1],
    )
    prefix = workdir / "prefix.jsonl"
    prefix.write_bytes(b"".join(lines))

    def fast_prefix() -> int:
        _ingest_file(f"sqlite:///{fast_db}", prefix, policy).close()
        return len(lines)

    result.phases["fast_prefix"] = measure("ingest, same prefix", "msgs", fast_prefix)
    naive = sqlite3.connect(naive_db).execute(
        "SELECT account, deposited, available, held, spent, refund_pending, refunded_out,"
        " forfeited FROM balances ORDER BY account").fetchall()
    fast = sqlite3.connect(fast_db).execute(
        "SELECT account, deposited, available, held, spent, refund_pending, refunded_out,"
        " forfeited FROM balances ORDER BY account").fetchall()
    result.checks["naive_balances_identical"] = naive == fast and bool(fast)


def _postgres(result: BenchRun, jsonl: Path, policy: str) -> None:
    schema = f"bench_{os.getpid()}"
    url = f"{POSTGRES_URL}?schema={schema}"
    try:
        holder: dict[str, Any] = {}

        def ingest_pg() -> int:
            holder["ledger"] = _ingest_file(url, jsonl, policy)
            return result.messages

        result.phases["ingest_postgres"] = measure("ingest (PostgreSQL)", "msgs", ingest_pg)
        ledger = holder["ledger"]
        with ledger.opened.database.transaction() as cursor:
            ledger.opened.database.execute(cursor, f"DROP SCHEMA {schema} CASCADE")
        ledger.close()
    except RuntimeError as error:
        result.notes.append(f"PostgreSQL not measured: {error}")


def summary(result: BenchRun) -> dict[str, Any]:
    phases = result.phases
    ingest, raw = phases["ingest_sqlite"], phases["raw_limit"]
    out: dict[str, Any] = {
        "messages": result.messages,
        "ingest_msgs_per_s": round(ingest.rate),
        "ingest_two_process_msgs_per_s": round(phases["ingest_alongside"].rate),
        "vs_naive": round(phases["fast_prefix"].rate / phases["naive"].rate, 1),
        "raw_limit_ratio": round(ingest.seconds / raw.seconds, 1),
        "rebuild_events_per_s": round(phases["rebuild"].rate),
        "peak_rss_mb": {"ingest": round(ingest.peak_rss_mb, 1),
                        "ingest_two_process": round(phases["ingest_alongside"].peak_rss_mb, 1),
                        "rebuild": round(phases["rebuild"].peak_rss_mb, 1)},
        "events": phases["rebuild"].items,
        "naive_msgs_per_s": round(phases["naive"].rate),
        "naive_messages": phases["naive"].items,
        "raw_rows_per_s": round(raw.rate),
        "postgres_msgs_per_s": round(phases["ingest_postgres"].rate)
        if "ingest_postgres" in phases else None,
        "kafka_msgs_per_s": round(phases["kafka"].rate) if "kafka" in phases else None,
        "kafka": result.kafka,
        "scale": result.scale,
        "chain": result.chain,
        "checks": result.checks,
        "notes": result.notes,
        "machine": {
            "cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        },
    }
    return out


def run_bench(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with tempfile.TemporaryDirectory(prefix="smsledger-bench-") as workdir:
        result = run(args, settings, Path(workdir))
    report = summary(result) if result.phases else {"scale": result.scale}
    if args.json:
        print_json(report, out)
    else:
        if result.phases:
            _print_standard(result, report, out)
        if result.scale is not None:
            _print_scale(result.scale, out)
    clean = result.scale is None or result.scale["audit_clean"]
    return 0 if all(result.checks.values()) and clean else 1


def _print_standard(result: BenchRun, report: dict[str, Any], out: TextIO) -> None:
    print_table([
        {"phase": p.name, "items": p.items, "unit": p.unit, "seconds": round(p.seconds, 3),
         "per_second": round(p.rate), "peak_rss_mb": round(p.peak_rss_mb, 1)}
        for p in result.phases.values()
    ], out)
    for key in ("ingest_msgs_per_s", "ingest_two_process_msgs_per_s", "vs_naive",
                "raw_limit_ratio", "rebuild_events_per_s", "postgres_msgs_per_s",
                "kafka_msgs_per_s"):
        out.write(f"{key}: {report[key]}\n")
    out.write(f"chain: {report['chain']}\n")
    out.write(f"checks: {report['checks']}\n")
    for note in result.notes:
        out.write(f"note: {note}\n")


def _print_scale(scale: dict[str, Any], out: TextIO) -> None:
    print_table([{"at": s["at"], "msgs_per_s": s["msgs_per_s"]} for s in scale["slices"]], out)
    for key in ("messages", "events", "last_first_ratio", "raw_last_first_ratio", "audit_s",
                "audit_peak_rss_mb", "audit_clean", "rebuild_s", "rebuild_peak_rss_mb"):
        out.write(f"scale {key}: {scale[key]}\n")

