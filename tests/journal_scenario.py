"""A store whose journal has a row in every table: rejections (one at a fraction of a
second, one with a rule), a dead letter, a parked message, a late one, an open order's
deadline, a partition's offset and clock, the policy version used; and what it reads back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from smsledger.consumers.journal import Inbound
from smsledger.infra.bootstrap import Ledger, bootstrap
from smsledger.infra.settings import Settings
from smsledger.projections.queries import run_query
from tests.scenario import START, Scenario

GROUP, TOPIC = "g", "inbound"
JOURNAL_VIEWS = ("rejections", "dead-letters")


def journal_scenario() -> Scenario:
    s = Scenario()
    s.account("a1")
    s.deposit(1000, deposit="d1")
    s.order("o1", 100)
    s.issue("o1")
    s.sms("o1", code="11111")
    s.customer("order.wrong_code_reported", "o1")  # refused under 1001sms, by a rule
    s.order("o2", 5000)  # insufficient funds
    too_dear = s.messages[-1]
    too_dear["at"] = too_dear["at"].replace("Z", ".250000Z")
    s.sms("o9", code="22222")  # parked: no order o9 yet
    s.at(timedelta(minutes=30)).send("clock.tick")
    s.at(timedelta(minutes=5)).deposit(10, deposit="d2")  # late: behind the tick
    s.at(timedelta(minutes=31))
    s.order("o3", 10)
    s.issue("o3")  # open: a deadline
    return s


def journal_records(scenario: Scenario, first: int = 0) -> list[Inbound]:
    lines = [*scenario.lines(), b"not json"]
    return [Inbound(line, TOPIC, 0, first + n) for n, line in enumerate(lines)]


def journal_store(url: str) -> Ledger:
    """The scenario on partition 0 of a topic, the input not ended (the parked message and
    the deadline stay), the read models caught up."""
    ledger = bootstrap(Settings(store=url, policy="1001sms"))
    engine = ledger.engine(GROUP)
    engine.process(journal_records(journal_scenario()))
    engine.commit()
    ledger.catch_up()
    return ledger


def journal_reads(ledger: Ledger) -> dict[str, Any]:
    """Everything the CLI and the engine read from the journal."""
    db, store = ledger.opened.database, ledger.opened.store
    reads: dict[str, Any] = {name: run_query(db, name) for name in JOURNAL_VIEWS}
    # rejections from a second before the fractional one on: it alone
    reads["since"] = run_query(db, "rejections", since=START + timedelta(seconds=6))
    reads.update(parked=store.parked(), deadlines=sorted(store.deadlines()),
                 clocks=store.clocks(GROUP), offsets=store.offsets(GROUP),
                 watermark=store.watermark(), versions=store.used_policy_versions())
    return reads
