"""Event time in the engine: the watermark, the clocks, the deadlines it tracks, and
settling every deadline a time has overtaken, at the deadline's own time.

Time is kept per account. A message moves only its own account's time: before it is
applied, the deadlines it has overtaken are settled first (its order's, and those of its
account's other orders and refund requests). Deadlines of accounts that send nothing more
are settled by a clock: a `clock.tick` (per partition in a consumer group, so a tick on
one partition moves only that partition's accounts), the wall clock once everything is
read, and the end of a finite input. A clock settles what lies more than the allowed
lateness behind it, so a message up to that much behind its partition's clock still finds
its account as in-order processing would have left it; one further behind is *late*.
Another account's traffic never settles, parks out or makes late anything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID

from smsledger.domain import ledger
from smsledger.domain.account import Account
from smsledger.domain.order import Order
from smsledger.domain.refund import RefundRequest

from .counts import Counts
from .messages import Message
from .schedule import ClockKey, Deadlines, Ownership

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
_DEADLINE_KINDS: dict[type, str] = {Order: "order", RefundRequest: "request"}


class Aggregates(Protocol):
    """The aggregates as the engine holds them: the batch in hand over the store."""

    def aggregate(self, aggregate_id: UUID) -> Account | Order | RefundRequest | None: ...

    def account(self, ref: str) -> Account | None: ...

    def order(self, ref: str) -> Order | None: ...

    def refund(self, ref: str) -> RefundRequest | None: ...

    def touch(self, *aggregates: Account | Order | RefundRequest) -> None: ...


def shifted(at: datetime, by: timedelta) -> datetime:
    """`at + by`, held at the ends of the calendar (a year-1 or year-9999 time must not
    stop the stream with an OverflowError)."""
    try:
        return at + by
    except OverflowError:
        return EARLIEST if by < timedelta(0) else LATEST


def _in_order(refs: Collection[str]) -> list[str]:
    """A sorted copy: settling never depends on insertion order, and it removes holds
    from the very collection it was given."""
    return list(refs) if len(refs) < 2 else sorted(refs)


class Settling:
    """The watermark, the clocks and the deadlines one engine tracks, and their settling.

    The watermark is the ledger's time as the read models see it: the latest event time
    of a processed message (applied, rejected or ignored: never a dead letter, a parked
    or a duplicate message), or of the wall clock followed once caught up.
    """

    def __init__(
        self, aggregates: Aggregates, counts: Counts, *, watermark: datetime | None,
        ownership: Ownership, lateness: timedelta,
    ) -> None:
        self.aggregates = aggregates
        self.counts = counts
        self.watermark = watermark
        self.ownership = ownership
        self.lateness = lateness
        self.deadlines: dict[ClockKey, Deadlines] = defaultdict(Deadlines)
        # Per partition: its clock (latest clock.tick, or the wall clock followed), and
        # the latest event time processed on it (ticks included).
        self.clocks: dict[ClockKey, datetime] = {}
        self.latest: dict[ClockKey, datetime] = {}
        self.moved: set[ClockKey] = set()
        # A single writer tracks the deadline of every aggregate; a member of a consumer
        # group only those of its own accounts.
        self._tracks_every_deadline = type(ownership) is Ownership

    def restore(self, aggregate_id: UUID, kind: str, due: datetime, account: str) -> None:
        """A deadline of an earlier batch, read back from the journal."""
        self.deadlines[self.ownership.clock_of(account)].set(aggregate_id, kind, due)

    def track(
        self, aggregate: Account | Order | RefundRequest
    ) -> tuple[str, datetime | None, str] | None:
        """Note the aggregate's deadline; the journal row to write if it changed."""
        kind = _DEADLINE_KINDS.get(type(aggregate))
        if kind is None:
            return None
        due = aggregate.deadline  # type: ignore[union-attr]
        account = aggregate.account
        if self.deadlines[self.ownership.clock_of(account)].set(aggregate.id, kind, due):
            return (kind, due, account)
        return None

    def restore_times(
        self, key: ClockKey, clock: datetime | None, latest: datetime | None
    ) -> None:
        """A partition's clock and latest event time, read back from the journal."""
        if clock is not None:
            self.clocks[key] = clock
        if latest is not None:
            self.latest[key] = latest

    def observe(self, key: ClockKey, at: datetime) -> bool:
        """A message at `at` was processed on partition `key`: its latest event time and
        the watermark move to it if it is later; True if the watermark moved."""
        latest = self.latest.get(key)
        if latest is None or at > latest:
            self.latest[key] = at
            self.moved.add(key)
        return self.move_watermark(at)

    def move_watermark(self, at: datetime) -> bool:
        if self.watermark is not None and at <= self.watermark:
            return False
        self.watermark = at
        return True

    def tick(self, key: ClockKey, at: datetime) -> datetime | None:
        """Move clock `key` to `at` and settle its deadlines more than the allowed lateness
        behind it; the time settled to, or None if the clock did not move."""
        clock = self.clocks.get(key)
        if clock is not None and at <= clock:
            return None
        self.clocks[key] = at
        self.moved.add(key)
        limit = shifted(at, -self.lateness)
        self.settle_before(key, limit)
        return limit

    def input_over(self, key: ClockKey) -> None:
        """The input of partition `key` is over: its deadlines before its latest event
        time are settled, whatever its clock says. A single writer's input is over at the
        watermark (a file behind it settles its own deadlines)."""
        limit = self.watermark if key is None else self.latest.get(key)
        if limit is not None:
            self.settle_before(key, limit)

    def take_moved(self) -> dict[ClockKey, tuple[datetime | None, datetime | None]]:
        """The partitions whose clock or latest event time moved since last taken."""
        moved = {key: (self.clocks.get(key), self.latest.get(key)) for key in self.moved}
        self.moved.clear()
        return moved

    def settle_before(self, key: ClockKey, limit: datetime) -> None:
        deadlines = self.deadlines.get(key)
        while deadlines is not None and (due := deadlines.pop_before(limit)) is not None:
            self.expire(*due)

    def behind(self, key: ClockKey, at: datetime) -> datetime | None:
        """The clock a message at `at` is late for (more than the allowed lateness behind
        it), or None."""
        clock = self.clocks.get(key)
        return clock if clock is not None and at < shifted(clock, -self.lateness) else None

    def all_settled_before(self, message: Message, key: ClockKey) -> bool:
        """True if no deadline before the message's time can still be open: for a writer
        that tracks every deadline, when none it tracks falls before the message's time."""
        deadlines = self.deadlines.get(key)
        return self._tracks_every_deadline and (
            deadlines is None or not deadlines.any_before(message.at))

    def expire(self, kind: str, aggregate_id: UUID) -> None:
        aggregate = self.aggregates.aggregate(aggregate_id)
        if isinstance(aggregate, Order) and not aggregate.is_final:
            account = self.aggregates.account(aggregate.account)
            assert account is not None, f"order {aggregate.order} has no account"
            ledger.expire_order(aggregate, account)
            self.aggregates.touch(aggregate, account)
            self.counts.expired += 1
        elif isinstance(aggregate, RefundRequest) and aggregate.deadline is not None:
            account = self.aggregates.account(aggregate.account)
            assert account is not None, f"refund {aggregate.request} has no account"
            ledger.expire_refund(aggregate, account)
            self.aggregates.touch(aggregate, account)
            self.counts.expired += 1

    def settle_overtaken(self, message: Message) -> None:
        """Deadlines before this message's time, of its order and its account, go first."""
        at, data, find = message.at, message.data, self.aggregates
        order_ref = data.get("order")
        order = find.order(order_ref) if order_ref else None
        if order is not None and order.deadline is not None and order.deadline < at:
            self.expire("order", order.id)
        request_ref = data.get("request")
        refund = find.refund(request_ref) if request_ref else None
        account_ref = (
            data.get("account")
            or (order.account if order else None)
            or (refund.account if refund else None)
        )
        account = find.account(account_ref) if account_ref else None
        if account is None:
            return
        for ref in _in_order(account.holds):
            held = find.order(ref)
            if held is not None and held.deadline is not None and held.deadline < at:
                self.expire("order", held.id)
        for ref in _in_order(account.pending_refunds):
            refund = find.refund(ref)
            if refund is not None and refund.deadline is not None and refund.deadline < at:
                self.expire("request", refund.id)
