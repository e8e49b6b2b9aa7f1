"""The audit's money checks, one replayed aggregate at a time: an account's invariant and
an order's charges are checked when it has been folded; what needs another aggregate or
the read models (a hold and its open order, the balances beside the projected ones) is
kept in the scratch file and checked there when the whole log has been replayed."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from smsledger.domain import ids
from smsledger.domain.account import Account
from smsledger.domain.money import BUCKETS
from smsledger.domain.order import Order
from smsledger.infra.audit.scratch import Scratch, copy_table, merged
from smsledger.projections.tables import TABLES

MONEY = ("deposited", *BUCKETS)


class MoneyCheck:
    def __init__(self, into: Scratch) -> None:
        self.scratch = into
        self.accounts = self.orders = 0
        self.totals = dict.fromkeys(MONEY, 0)
        self.problems: list[str] = []
        self.order_problems: list[str] = []
        self._balances: list[tuple[Any, ...]] = []
        self._holds: list[tuple[str, str, int]] = []
        self._open: list[tuple[str, int]] = []
        into.create("replayed_balances", ("account", *MONEY), ("account",))
        into.connection.execute("CREATE TABLE holds (account, ref, amount)")
        into.create("open_orders", ("ref", "price"), ("ref",))

    def take(self, aggregate: Any) -> None:
        """One aggregate, replayed to its last event."""
        if isinstance(aggregate, Account):
            self._account(aggregate)
        elif isinstance(aggregate, Order):
            self._order(aggregate)
        if len(self._balances) + len(self._holds) + len(self._open) >= 5000:
            self._flush()

    def _account(self, account: Account) -> None:
        self.accounts += 1
        balances = account.balances()
        self._balances.append((account.account, *(balances[name] for name in MONEY)))
        for name, value in balances.items():
            self.totals[name] += value
        self.problems.extend(f"account {account.account}: {error}"
                             for error in account.invariant_errors())
        self._holds.extend((account.account, ref, amount)
                           for ref, amount in account.holds.items())

    def _order(self, order: Order) -> None:
        self.orders += 1
        if order.charged + order.released not in (0, order.price):
            self.order_problems.append(f"order {order.order}: charged+released != price")
        if not order.is_final:
            self._open.append((order.order, order.price))

    def _flush(self) -> None:
        # As the replay's dicts did, a later aggregate of the same name replaces an earlier.
        self.scratch.insert("replayed_balances", self._balances, replace=True)
        self.scratch.insert("holds", self._holds)
        self.scratch.insert("open_orders", self._open, replace=True)
        self._balances, self._holds, self._open = [], [], []

    def finish(self) -> list[str]:
        """Every problem found, with the holds that have no open order of their price."""
        self._flush()
        unmatched = self.scratch.rows(
            "SELECT h.account, h.ref, h.amount FROM holds h LEFT JOIN open_orders o"
            " ON o.ref = h.ref WHERE o.ref IS NULL OR o.price != h.amount ORDER BY h.rowid")
        holds = [f"account {account}: hold {amount} for {ref} has no open order"
                 for account, ref, amount in unmatched]
        return [*self.problems, *holds, *self.order_problems]


def compare_balances(database: Any, into: Scratch, unreadable: set[UUID]) -> list[str]:
    """The replayed balances against the projected ones (copied to the scratch file to be
    read in account order), merged account by account."""
    columns, key = TABLES["balances"]
    copy_table(database, into, "balances", [c for c, _ in columns], key)
    problems: list[str] = []
    projected = into.rows(
        f"SELECT account, {', '.join(MONEY)} FROM live_balances ORDER BY account")
    replayed = into.rows(
        f"SELECT account, {', '.join(MONEY)} FROM replayed_balances ORDER BY account")
    for want, have in merged(replayed, projected, key=lambda row: row[:1]):
        if want is None and have is not None and ids.account_id(have[0]) in unreadable:
            continue  # reported already: its events could not be replayed
        if want is None or have is None:
            account = (want or have or ("",))[0]
            problems.append(f"balances: account {account} missing on one side")
            continue
        for name, value, shown in zip(MONEY, want[1:], have[1:], strict=True):
            projected_value = int(shown) if shown is not None else 0
            if projected_value != value:
                problems.append(
                    f"balances: {want[0]}.{name} projected {projected_value}, replayed {value}")
    return problems
