"""A policy changing on a date: every message is decided by the version in force at its
event time, the decision records `policy@version`, and the store records the versions used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from smsledger.consumers.ingest import ingest_lines
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings
from smsledger.infra.whatif import inbound_log
from smsledger.projections.queries import run_query
from tests.policy_support import write_version
from tests.scenario import Outcome, Scenario, memory_store_url, run

DAY = timedelta(days=1)
CHANGE = "2026-06-10T00:00:00Z"  # Scenario starts 2026-06-01T10:00:00Z


@pytest.fixture
def three_day_window(tmp_path: Path) -> Path:
    """sms-service@2: the deposit window is 3 days from 2026-06-10."""
    write_version(tmp_path, version='version = "2"', effective_from=f"effective_from = {CHANGE}",
                  deposit_window='deposit_window = "3d"')
    return tmp_path


def both_sides_of_the_change() -> Scenario:
    """A deposit refunded after 4 days before the change, and one after it."""
    s = Scenario()
    s.account("a1")
    s.deposit(1000, account="a1", deposit="d1")
    s.at(4 * DAY).send("refund.requested", request="r1", account="a1", reason="other",
                       details_provided=True)
    s.at(10 * DAY).account("a2")
    s.deposit(1000, account="a2", deposit="d2")
    s.order("o2", 100, account="a2")
    s.at(14 * DAY).send("refund.requested", request="r2", account="a2", reason="other",
                        details_provided=True)
    return s


def outcome(three_day_window: Path) -> Outcome:
    return run(both_sides_of_the_change(), policy_dir=str(three_day_window))


def test_each_request_is_decided_by_the_version_in_force_when_it_was_made(
    three_day_window: Path,
) -> None:
    result = outcome(three_day_window)
    before, after = result.refund("r1"), result.refund("r2")
    assert (before["status"], before["amount"], before["policy"]) == (
        "approved", 1000, "sms-service@1")
    assert (after["status"], after["amount"], after["policy"]) == (
        "rejected", 0, "sms-service@2")
    assert "deposit.window_expired" in after["rules"]


def test_the_same_traffic_under_the_first_version_alone_refunds_both(
    three_day_window: Path,
) -> None:
    result = run(both_sides_of_the_change())
    assert [result.refund(r)["status"] for r in ("r1", "r2")] == ["approved", "approved"]


def test_order_decisions_record_the_version_too(three_day_window: Path) -> None:
    result = outcome(three_day_window)
    rows = result.ledger.opened.database.query('SELECT "order", policy FROM orders')
    assert rows == [("o2", "sms-service@2")]


def test_the_store_records_each_version_used_with_its_file_digest(
    three_day_window: Path,
) -> None:
    result = outcome(three_day_window)
    rows = result.ledger.opened.database.query(
        "SELECT ref, digest, first_at, last_at FROM policy_versions ORDER BY ref")
    versions = result.ledger.policy
    assert [(r[0], r[1]) for r in rows] == [
        (ref, versions.version(ref).digest)  # type: ignore[union-attr]
        for ref in ("sms-service@1", "sms-service@2")
    ]
    # The first and last messages each version decided.
    assert rows[0][2:] == ("2026-06-01T10:00:00.000000Z", "2026-06-05T10:00:00.000000Z")
    assert rows[1][2:] == ("2026-06-11T10:00:00.000000Z", "2026-06-15T10:00:00.000000Z")


def test_every_line_is_kept_in_the_inbound_log_in_order(three_day_window: Path) -> None:
    s = both_sides_of_the_change()
    lines = [*s.lines(), b"not json", s.lines()[0]]  # a dead letter and a duplicate
    result = run(lines, policy_dir=str(three_day_window))
    logged = [raw for _, kind, _, raw in inbound_log(result.ledger) if kind == "message"]
    assert logged == lines[:-1]


def test_a_message_before_every_version_is_dead_lettered() -> None:
    s = Scenario(start=datetime(2024, 6, 14, tzinfo=UTC))
    s.account("a1")
    s.at(2 * DAY).deposit(1000, account="a1", deposit="d1")
    result = run(s, policy="1001sms")
    (letter,) = result.query("dead-letters")
    assert letter["reason"] == "no_policy_in_force"
    assert orjson.loads(letter["raw"])["type"] == "account.opened"
    assert result.balance("a1")["deposited"] == 1000  # opened by the deposit, under @2024-06-15


def test_refundability_now_follows_a_version_change_without_new_events(
    tmp_path: Path,
) -> None:
    """acme@1 (3-day window) then acme@2 (7 days): a deposit expired under @1 is refundable
    again once @2 is in force, though its account had no event since."""
    write_version(tmp_path, name='name = "acme"', deposit_window='deposit_window = "3d"')
    write_version(tmp_path, name='name = "acme"', version='version = "2"',
                  effective_from="effective_from = 2026-06-05T00:00:00Z")
    ledger = bootstrap(Settings(store=memory_store_url(), policy="acme",
                                policy_dir=str(tmp_path)))
    first = Scenario()
    first.account("a1")
    first.deposit(1000, account="a1", deposit="d1")
    first.at(3.5 * DAY).send("clock.tick")
    ingest_lines(ledger.engine(), first.lines(), source="one")
    ledger.catch_up()
    assert run_query(ledger.opened.database, "deposits")[0]["blocked_by"] == [
        "deposit.window_expired"]
    later = Scenario(start=datetime(2026, 6, 6, 10, tzinfo=UTC))
    later.send("account.opened", account="a2", currency="USD", eu_consumer=False)
    ingest_lines(ledger.engine(), [line.replace(b'"m-0', b'"n-0') for line in later.lines()],
                 source="two")
    ledger.catch_up()
    caught_up = run_query(ledger.opened.database, "deposits")
    assert (caught_up[0]["refundable"], caught_up[0]["blocked_by"]) == (1000, [])
    ledger.rebuild()
    assert run_query(ledger.opened.database, "deposits") == caught_up
