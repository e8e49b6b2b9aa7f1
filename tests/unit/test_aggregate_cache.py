"""The aggregate cache keeps the long-lived aggregates: finished orders, however many, do not
push the accounts out, so an account is read from the store once, not after every few
hundred orders."""

from __future__ import annotations

from datetime import timedelta

from smsledger.consumers.ingest import ingest_lines
from smsledger.domain import ids
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings
from smsledger.projections.queries import run_query
from tests.scenario import Scenario, memory_store_url

ACCOUNTS = [f"a{n}" for n in range(10)]


def _opened(scenario: Scenario) -> Scenario:
    for account in ACCOUNTS:
        scenario.account(account)
        scenario.deposit(10_000, account=account)
    return scenario


def _day_of_orders(scenario: Scenario, orders: int) -> Scenario:
    for n in range(orders):
        account, order = ACCOUNTS[n % len(ACCOUNTS)], f"o{n}"
        scenario.order(order, 10, account=account)
        scenario.issue(order)
        scenario.sms(order)
        scenario.customer("order.completed", order, account=account)
    return scenario


def test_finished_orders_do_not_evict_the_accounts() -> None:
    ledger = bootstrap(Settings(store=memory_store_url()))
    store = ledger.opened.store
    store.cache_size, store.finished_size = 20, 5  # 10 accounts fit; 300 orders do not
    scenario = _opened(Scenario(step=timedelta(seconds=1)))
    opening = len(scenario.messages)
    engine = ledger.engine()
    ingest_lines(engine, scenario.lines(), source="test", batch_size=10)
    accounts = {a: store.get(ids.account_id(a)) for a in ACCOUNTS}
    before = store.reads

    orders = _day_of_orders(scenario, 300).lines()[opening:]
    counts = ingest_lines(engine, orders, source="test", batch_size=10)

    assert counts.as_dict()["applied"] == opening + 1200  # the engine counts since it started
    # Each new order is looked up once (and found absent); no account is read again.
    assert store.reads - before == 300
    assert all(store.get(ids.account_id(a)) is accounts[a] for a in ACCOUNTS)
    ledger.catch_up()
    spent = {row["account"]: row["spent"] for row in run_query(ledger.opened.database, "balances")}
    assert spent == dict.fromkeys(ACCOUNTS, 300)


def test_an_evicted_aggregate_is_read_back_whole() -> None:
    ledger = bootstrap(Settings(store=memory_store_url()))
    store = ledger.opened.store
    store.cache_size, store.finished_size = 2, 1  # far fewer than the accounts
    lines = _day_of_orders(_opened(Scenario()), 40).lines()
    ingest_lines(ledger.engine(), lines, source="test", batch_size=5)
    ledger.catch_up()
    assert store.reads > 40 + len(ACCOUNTS)  # accounts were evicted and read again
    spent = {row["account"]: row["spent"] for row in run_query(ledger.opened.database, "balances")}
    assert spent == dict.fromkeys(ACCOUNTS, 40)
