"""`smsledger demo`: a seeded day of traffic through the real ingest path, then a summary."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smsledger.consumers.ingest import ingest_lines
from smsledger.infra.audit.replay import AuditReport, audit
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.cli.render import end_progress, progress_printer
from smsledger.infra.settings import Settings
from smsledger.infra.simulation.config import SimulationConfig
from smsledger.infra.simulation.simulator import simulate_lines, write_jsonl
from smsledger.projections.queries import run_query

DEMO_STORE = "sqlite:///./smsledger-demo.db"


@dataclass
class DemoSummary:
    messages: int
    seconds: float
    counts: dict[str, int]
    orders_by_state: Counter[str]
    money: dict[str, int]
    refunds: Counter[tuple[str, str]]
    rejections: Counter[str]
    dead_letters: Counter[str]
    audit: AuditReport
    extra: dict[str, Any] = field(default_factory=dict)


def fresh_sqlite(url: str) -> None:
    """The demo starts from an empty file each run, so its figures are its own."""
    path = Path(url[len("sqlite:///"):])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_demo(
    config: SimulationConfig, *, policy: str, store: str | None, emit: str | None,
    show_progress: bool = True, cancel_lock: int | None = None,
    policy_dir: str | None = None,
) -> DemoSummary:
    url = store or DEMO_STORE
    if url.startswith("sqlite:///") and "mode=memory" not in url:
        fresh_sqlite(url)
    lines = list(simulate_lines(config))
    if emit:
        write_jsonl(lines, emit)
    ledger = bootstrap(Settings(store=url, policy=policy, cancel_lock=cancel_lock,
                                policy_dir=policy_dir))
    try:
        started = time.perf_counter()
        report = progress_printer("ingesting") if show_progress else None
        counts = ingest_lines(ledger.engine(), lines, source="demo", progress=report)
        ledger.catch_up()
        seconds = time.perf_counter() - started
        if show_progress:
            end_progress()
        return _summarise(ledger, len(lines), seconds, counts.as_dict())
    finally:
        ledger.close()


def _summarise(ledger: Any, messages: int, seconds: float, counts: dict[str, int]) -> DemoSummary:
    db = ledger.opened.database
    balances = run_query(db, "balances")
    money = {name: sum(row[name] for row in balances) for name in (
        "deposited", "available", "held", "spent", "refund_pending", "refunded_out", "forfeited")}
    refunds: Counter[tuple[str, str]] = Counter()
    for row in run_query(db, "refunds"):
        refunds[(row["status"], ",".join(row["rules"]) or "-")] += 1
    return DemoSummary(
        messages=messages,
        seconds=seconds,
        counts=counts,
        orders_by_state=Counter(row["state"] for row in run_query(db, "orders")),
        money=money,
        refunds=refunds,
        rejections=Counter(row["reason"] for row in run_query(db, "rejections")),
        dead_letters=Counter(row["reason"] for row in run_query(db, "dead-letters")),
        audit=audit(ledger),
    )


def format_summary(summary: DemoSummary) -> str:
    lines = [
        f"messages: {summary.messages:,} in {summary.seconds:.2f}s "
        f"({summary.messages / max(summary.seconds, 1e-9):,.0f}/s, projections caught up)",
        "outcomes: " + ", ".join(f"{k} {v}" for k, v in summary.counts.items()),
        "",
        "orders by state:",
        *(f"  {state:<14}{n:>8}" for state, n in sorted(summary.orders_by_state.items())),
        "",
        "money (minor units, all accounts):",
        *(f"  {name:<14}{value:>12,}" for name, value in summary.money.items()),
        "",
        "refunds to the payment method, by decision and rules:",
        *(f"  {status:<17}{rules:<48}{n:>5}"
          for (status, rules), n in sorted(summary.refunds.items())),
        "",
        "rejections by reason:",
        *(f"  {reason:<28}{n:>6}" for reason, n in summary.rejections.most_common()),
        "",
        "dead letters by reason:",
        *(f"  {reason:<28}{n:>6}" for reason, n in summary.dead_letters.most_common()),
        "",
    ]
    audit_report = summary.audit
    verdict = "CLEAN" if audit_report.clean else f"{len(audit_report.problems)} PROBLEMS"
    lines.append(
        f"audit: {verdict} — {audit_report.events:,} events replayed, "
        f"{audit_report.accounts} accounts, {audit_report.orders} orders; "
        f"invariant deposited = available + held + spent + refund_pending + refunded_out"
        f" + forfeited checked per account; read models equal a rebuild"
    )
    lines.extend(f"  ! {problem}" for problem in audit_report.problems[:20])
    return "\n".join(lines)
