"""The time series: sums over the orders, deposits and refund requests of each period, the
same whether folded in small batches or rebuilt, with groups an order leaves removed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smsledger.consumers.ingest import ingest_lines
from smsledger.infra.bootstrap import Ledger, bootstrap
from smsledger.infra.cli.query_args import field_names
from smsledger.infra.settings import Settings
from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines
from smsledger.projections import runner
from smsledger.projections.queries import QUERIES, run_query
from smsledger.projections.series_queries import time_bound
from tests.scenario import Scenario, memory_store_url, run
from tests.series_sums import money_from_views, order_series_from_orders, period_starts

SERIES_TABLES = ("orders_hourly", "orders_daily", "money_daily")
# Three days: accounts blocked and closed, refunds of every status, dead letters.
SIMULATION = SimulationConfig(accounts=60, days=3.0, seed=11, closed_accounts=3,
                              bad_input_share=0.02)


def series_tables(db: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {table: db.query(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4")
            for table in SERIES_TABLES}


@pytest.fixture(scope="module")
def folded() -> Iterator[Ledger]:
    """Three simulated days folded by the catch-up after every 250 messages, 61 events a
    batch: orders are requested in one batch and issued, answered or closed in later ones."""
    ledger = bootstrap(Settings(store=memory_store_url(), policy="sms-service"))
    lines = list(simulate_lines(SIMULATION))
    engine = ledger.engine()
    for start in range(0, len(lines), 250):
        ingest_lines(engine, lines[start : start + 250], source="test", batch_size=50)
        runner.catch_up(ledger.opened.database, ledger.opened.recorder.select_stored_after,
                        ledger.clock(), batch_size=61)
    yield ledger
    ledger.close()


def test_the_series_folded_in_small_batches_equal_a_rebuild(folded: Ledger) -> None:
    db = folded.opened.database
    caught_up = series_tables(db)
    days = {row[0] for row in caught_up["orders_daily"]}
    assert len(days) >= 3
    assert any(row[1] == "" for row in caught_up["orders_daily"]), "orders never issued"
    assert {row[1] for row in caught_up["money_daily"]} == {"deposit", "refund", "forfeited"}

    runner.rebuild(db, folded.opened.recorder, folded.clock())

    assert series_tables(db) == caught_up


@pytest.mark.parametrize(("view", "field", "step"), [
    ("hourly", "hour", timedelta(hours=1)), ("daily", "day", timedelta(days=1)),
])
def test_each_periods_rows_are_sums_over_the_orders_requested_in_it(
    folded: Ledger, view: str, field: str, step: timedelta
) -> None:
    db = folded.opened.database
    series = run_query(db, view)
    assert len(series) > 20

    assert series == order_series_from_orders(db, period_starts(series, field), step, field)
    assert sum(row["orders"] for row in series) == len(run_query(db, "orders"))


def test_each_days_money_is_the_sum_of_its_deposits_and_refund_requests(folded: Ledger) -> None:
    db = folded.opened.database
    money = run_query(db, "daily-money")
    flows = [row for row in money if row["flow"] != "forfeited"]
    assert flows == money_from_views(db, period_starts(money, "day"))
    closed = [b for b in run_query(db, "balances", extras=True) if b["status"] == "closed"]
    forfeited = [row for row in money if row["flow"] == "forfeited"]
    assert sum(row["count"] for row in forfeited) == len(closed) > 0
    assert sum(row["amount"] for row in forfeited) == sum(b["forfeited"] for b in closed)


def test_an_order_issued_in_a_later_batch_leaves_the_group_without_provider() -> None:
    scenario = Scenario()
    scenario.account()
    scenario.deposit(1000)
    scenario.order("o1", 100)
    outcome = run(scenario)
    db = outcome.ledger.opened.database
    assert [(r["provider"], r["orders"], r["issued"]) for r in outcome.query("daily")] == [
        (None, 1, 0)]

    scenario.issue("o1", price=80)
    scenario.sms("o1")
    scenario.customer("order.completed", "o1")
    ingest_lines(outcome.ledger.engine(), scenario.lines()[3:], source="test")
    outcome.ledger.catch_up()

    rows = outcome.query("hourly")
    assert [(r["provider"], r["orders"], r["issued"], r["sms_received"], r["revenue"],
             r["released"]) for r in rows] == [("p1", 1, 1, 1, 80, 20)]
    assert rows[0]["hour"] == "2026-06-01T10:00:00Z"
    assert rows[0]["median_seconds_to_sms"] == 1.0
    caught_up = series_tables(db)
    runner.rebuild(db, outcome.ledger.opened.recorder, outcome.ledger.clock())
    assert series_tables(db) == caught_up
    outcome.ledger.close()


def test_a_store_folded_before_the_series_existed_is_rebuilt_on_opening(
    folded: Ledger,
) -> None:
    db = folded.opened.database
    before = series_tables(db)
    balances = run_query(db, "balances")
    with db.transaction() as cursor:
        for table in SERIES_TABLES:
            db.execute(cursor, f"DROP TABLE {table}")
    assert runner.position(db) > 0

    again = bootstrap(Settings(store=folded.opened.url, policy="sms-service"))
    assert runner.position(db) == 0  # emptied: the next catch-up rebuilds
    again.catch_up()

    assert series_tables(db) == before
    assert run_query(db, "balances") == balances


MOMENT = datetime(2026, 6, 1, 10, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize(("moment", "form", "bound"), [
    (MOMENT, "time", "2026-06-01T10:30:05"),
    (MOMENT, "hour", "2026-06-01T11:00:00Z"),
    (MOMENT, "day", "2026-06-02"),
    (MOMENT.replace(minute=0, second=0), "hour", "2026-06-01T10:00:00Z"),
    (datetime(2026, 6, 1, 23, 0, 1, tzinfo=UTC), "hour", "2026-06-02T00:00:00Z"),
    (datetime(2026, 6, 1, tzinfo=UTC), "day", "2026-06-01"),
    (datetime(2026, 6, 1, 14, tzinfo=UTC), "day", "2026-06-02"),
])
def test_a_bound_takes_the_periods_that_start_at_or_after_it(
    moment: datetime, form: str, bound: str
) -> None:
    assert time_bound(moment, form) == bound


def test_a_time_bound_is_compared_to_the_second() -> None:
    """A stored time of the bound's second, with or without a fraction, is at or after it."""
    bound = time_bound(MOMENT, "time")
    assert "2026-06-01T10:30:05Z" >= bound
    assert "2026-06-01T10:30:05.25Z" >= bound
    assert "2026-06-01T10:30:04.999Z" < bound
    with pytest.raises(ValueError, match="fraction"):
        time_bound(MOMENT.replace(microsecond=5), "time")


def test_every_views_csv_header_is_its_json_fields(folded: Ledger) -> None:
    db = folded.opened.database
    for view in QUERIES:
        rows = run_query(db, view)
        assert rows, view
        assert field_names(view) == list(rows[0]), view
