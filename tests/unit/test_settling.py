"""A single writer skips looking for overtaken deadlines when no deadline it tracks falls
before the message's time. The skip must change nothing: the same input, with messages
arriving out of order, gives the same events and journal whether the engine looks each
time or not."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import orjson
import pytest

from smsledger.consumers.engine import Engine
from smsledger.consumers.ingest import ingest_lines
from smsledger.domain.policies import POLICIES
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings
from smsledger.infra.simulation.simulator import config_for_size, simulate_lines
from tests.scenario import Scenario, memory_store_url, run

MIN = timedelta(minutes=1)
JOURNAL = ("processed_messages", "rejections", "dead_letters", "parked_messages", "deadlines")


def late_accounts(lines: list[bytes], share: float, delay: int, seed: int) -> list[bytes]:
    """The simulated stream with every message of some accounts (and of their orders)
    arriving `delay` messages late, in its own order: numbers issued behind the watermark,
    with deadlines it has already passed."""
    messages = [orjson.loads(line) for line in lines]
    accounts = sorted({m["data"]["account"] for m in messages if "account" in m["data"]})
    chosen = set(random.Random(seed).sample(accounts, int(len(accounts) * share)))
    orders = {m["data"]["order"] for m in messages
              if m["type"] == "order.requested" and m["data"]["account"] in chosen}
    arrived: list[bytes] = []
    waiting: list[tuple[int, bytes]] = []
    for index, (line, message) in enumerate(zip(lines, messages, strict=True)):
        data = message["data"]
        if data.get("account") in chosen or data.get("order") in orders:
            waiting.append((index + delay, line))
        else:
            arrived.append(line)
        while waiting and waiting[0][0] <= index:
            arrived.append(waiting.pop(0)[1])
    return arrived + [line for _, line in waiting]


class AlwaysSettling(Engine):
    """Looks for overtaken deadlines before every message, as before the skip."""

    skipped = 0

    def _apply(self, inbound: Any, message: Any, *, settled: bool = False) -> None:
        AlwaysSettling.skipped += settled
        super()._apply(inbound, message, settled=False)


class NeverSettling(Engine):
    """Never looks: what the skip would do if it were taken everywhere."""

    def _apply(self, inbound: Any, message: Any, *, settled: bool = False) -> None:
        super()._apply(inbound, message, settled=True)


def ingest(lines: list[bytes], policy: str, engine_class: type[Engine]) -> dict[str, Any]:
    ledger = bootstrap(Settings(store=memory_store_url(), policy=policy))
    try:
        engine = engine_class(ledger.opened.store, ledger.policy)
        counts = ingest_lines(engine, lines, source="test", batch_size=250).as_dict()
        db = ledger.opened.database
        return {
            "counts": counts,
            "events": db.query("SELECT originator_id, originator_version, topic, state"
                               " FROM stored_events ORDER BY rowid"),
            **{table: sorted(map(repr, db.query(f"SELECT * FROM {table}"))) for table in JOURNAL},
        }
    finally:
        ledger.close()


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_skipping_the_search_for_overtaken_deadlines_changes_nothing(policy: str) -> None:
    simulated = list(simulate_lines(config_for_size(2500, seed=11)))
    lines = late_accounts(simulated, share=0.3, delay=300, seed=3)
    assert sorted(lines) == sorted(simulated)

    AlwaysSettling.skipped = 0
    looking = ingest(lines, policy, AlwaysSettling)
    # Messages where the default engine skips. Time is kept per account, so the deadlines
    # of silent accounts wait for a clock.tick: about a third of the stream skips.
    assert AlwaysSettling.skipped > 500
    assert ingest(lines, policy, NeverSettling) != looking  # the input needs the looking
    assert ingest(lines, policy, Engine) == looking


class CountingSkipsBehind(Engine):
    """Counts the messages behind the latest event time read that skip the search."""

    skipped_behind = 0
    latest: Any = None

    def _apply(self, inbound: Any, message: Any, *, settled: bool = False) -> None:
        latest = CountingSkipsBehind.latest
        if settled and latest is not None and message.at < latest:
            CountingSkipsBehind.skipped_behind += 1
        CountingSkipsBehind.latest = message.at if latest is None else max(latest, message.at)
        super()._apply(inbound, message, settled=settled)


def test_messages_behind_the_watermark_skip_the_search_when_no_deadline_is_overdue() -> None:
    lines = late_accounts(list(simulate_lines(config_for_size(2500, seed=11))), share=0.3,
                          delay=300, seed=3)
    CountingSkipsBehind.skipped_behind, CountingSkipsBehind.latest = 0, None
    ingest(lines, "sms-service", CountingSkipsBehind)
    # Of the late accounts' messages, those finding no deadline overdue skip the search.
    assert CountingSkipsBehind.skipped_behind > 300


def test_a_single_writer_still_settles_a_deadline_set_behind_the_watermark() -> None:
    """A number issued late gets a deadline the watermark has already passed; the next
    message about it, also behind the watermark, moves nothing, so the writer must look."""
    s = Scenario()
    s.account()
    s.deposit(1000, deposit="d1")
    s.account("a2")
    s.at(60 * MIN).deposit(10, account="a2", deposit="d2")  # the watermark: start + 60 min
    s.at(5 * MIN).order("o1", 100)  # arrives late
    s.issue("o1")  # deadline start + 25 min: already behind the watermark
    s.at(30 * MIN).sms("o1")  # after that deadline, still behind the watermark
    outcome = run(s)
    assert outcome.order("o1")["state"] == "timed_out"
    assert (outcome.balance()["available"], outcome.balance()["held"]) == (1000, 0)
    assert outcome.counts["ignored"] == 1  # the SMS came after the window closed
