"""The engine: applies batches of inbound messages with exactly-once effect.

Per batch it decodes, drops message ids seen before, applies the rest in order, and
commits the events together with the journal (processed ids, rejections, dead letters,
parked messages, deadlines, offsets, the watermark) in one transaction.

Time is event time. Before a message is applied, the deadlines it has overtaken are
settled first (its order's, and those of its account's other orders), so that the outcome
never depends on how far the watermark happens to have moved.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from smsledger.domain import ids, ledger
from smsledger.domain.account import Account
from smsledger.domain.errors import CurrencyMismatch, Refused
from smsledger.domain.order import Order
from smsledger.domain.policies import Policy
from smsledger.domain.policy_versions import PolicyVersions
from smsledger.domain.refund import RefundRequest
from smsledger.projections.formats import iso

from .handlers import HANDLERS, Ignored, Park, Refusal
from .journal import (
    LOGGED_CLOCK,
    LOGGED_END,
    LOGGED_MESSAGE,
    Batch,
    Inbound,
    LedgerStore,
    Parked,
    Seen,
    message_digest,
)
from .messages import DecodeError, Message, decode
from .parking import ParkingLot
from .policy_choice import VersionInForce
from .schedule import Deadlines, Ownership

PARK_LIMIT = timedelta(hours=1)


@dataclass
class Counts:
    applied: int = 0
    rejected: int = 0
    ignored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    parked: int = 0
    expired: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


_REFERENCES = (("account", ids.account_id), ("order", ids.order_id),
               ("request", ids.refund_request_id))


_DEADLINE_KINDS: dict[type, str] = {Order: "order", RefundRequest: "request"}


def _in_order(refs: Collection[str]) -> list[str]:
    """A sorted copy: settling never depends on insertion order, and it removes holds
    from the very collection it was given."""
    return list(refs) if len(refs) < 2 else sorted(refs)


def inbound_id(message: Message | DecodeError) -> str | None:
    return message.id if isinstance(message, Message) else message.message_id


def _referenced_ids(messages: Iterable[Message]) -> list[UUID]:
    found = []
    for message in messages:
        for key, make in _REFERENCES:
            ref = message.data.get(key)
            if ref is not None:
                found.append(make(ref))
    return found


class Engine:
    """Applies messages to the ledger; one engine per writer of a set of accounts."""

    def __init__(
        self, store: LedgerStore, policy: Policy | PolicyVersions, *, consumer_group: str = "",
        park_limit: timedelta = PARK_LIMIT, ownership: Ownership | None = None,
    ) -> None:
        self.store = store
        self.versions = policy if isinstance(policy, PolicyVersions) else PolicyVersions.of(policy)
        self.consumer_group = consumer_group
        self.park_limit = park_limit
        self.counts = Counts()
        self._ownership = ownership or Ownership()
        self._in_force = VersionInForce(self.versions)
        # A single writer tracks the deadline of every aggregate; a member of a consumer
        # group only those of its own accounts.
        self._tracks_every_deadline = type(self._ownership) is Ownership
        self._load()

    def _load(self) -> None:
        """Read what the engine keeps of the store: the watermark, the deadlines and the
        parked messages it owns."""
        owns, store = self._ownership, self.store
        self.watermark: datetime | None = store.watermark()
        # The version in force at the message being handled (the handlers' `ctx.policy`).
        self.policy: Policy = self.versions.in_force(self.watermark)
        # The latest message time the inbound log holds from this engine.
        self._logged_until: datetime | None = None
        self._deadlines = Deadlines()
        for aggregate_id, kind, due, account in store.deadlines():
            if owns.account(account):
                self._deadlines.set(aggregate_id, kind, due)
        self._parking = ParkingLot()
        for parked in store.parked():
            if owns.parked(parked):
                self._parking.add(parked)
        self._batch = self._new_batch()
        self._seen_in_batch: dict[str, Seen] = {}

    def reload(self) -> None:
        """Drop the batch in hand and everything read, and read the store again: another
        writer committed first (the batch conflicted with what it wrote)."""
        self.store.forget()
        self._load()

    # The Context the handlers see.

    def account(self, ref: str) -> Account | None:
        return self._get(ids.account_id(ref))  # type: ignore[return-value]

    def order(self, ref: str) -> Order | None:
        return self._get(ids.order_id(ref))  # type: ignore[return-value]

    def refund(self, ref: str) -> RefundRequest | None:
        return self._get(ids.refund_request_id(ref))  # type: ignore[return-value]

    def open_orders(self, account: Account) -> list[Order]:
        found = [self.order(ref) for ref in account.holds]
        return [o for o in found if o is not None and not o.is_final]

    def touch(self, *aggregates: Account | Order | RefundRequest) -> None:
        pending, deadlines = self._batch.aggregates, self._batch.deadlines
        for aggregate in aggregates:
            aggregate_id = aggregate.id
            pending[aggregate_id] = aggregate
            kind = _DEADLINE_KINDS.get(type(aggregate))
            if kind is not None:
                due = aggregate.deadline  # type: ignore[union-attr]
                if self._deadlines.set(aggregate_id, kind, due):
                    deadlines[aggregate_id] = (kind, due, aggregate.account)

    def _get(self, aggregate_id: UUID) -> Account | Order | RefundRequest | None:
        pending = self._batch.aggregates.get(aggregate_id)
        if pending is not None:
            return pending  # type: ignore[return-value]
        return self.store.get(aggregate_id)  # type: ignore[return-value]

    # Batches.

    def process(self, records: Iterable[Inbound]) -> None:
        """Apply records in order; the caller commits with `commit()`."""
        decoded: list[tuple[Inbound, Message | DecodeError]] = []
        for inbound in records:
            if inbound.decoded is not None:
                decoded.append((inbound, inbound.decoded))
                continue
            try:
                decoded.append((inbound, decode(inbound.raw)))
            except DecodeError as error:
                decoded.append((inbound, error))
        self.store.prefetch(_referenced_ids(m for _, m in decoded if isinstance(m, Message)))
        ids_ = [m.id if isinstance(m, Message) else m.message_id for _, m in decoded]
        known = [i for i in ids_ if i is not None]
        seen = self.store.seen(known) if known else {}
        for (inbound, message), message_id in zip(decoded, ids_, strict=True):
            prior = None
            if message_id is not None:
                prior = self._seen_in_batch.get(message_id) or seen.get(message_id)
            if prior is not None and not self._takes_used_id(inbound, message, prior):
                pass
            elif isinstance(message, DecodeError):
                self._log(inbound, None)
                self._dead_letter(inbound, message.reason, message.detail, message_id,
                                  claim=prior is None)
            else:
                self._seen_in_batch[message.id] = Seen(False, message_digest(inbound.raw))
                self._log(inbound, message.at)
                moved = self.advance(message.at)
                self._apply(inbound, message, settled=self._all_settled_before(message, moved))
            self._record_offset(inbound)

    def _takes_used_id(
        self, inbound: Inbound, message: Message | DecodeError, prior: Seen
    ) -> bool:
        """A line whose message id was seen before: a duplicate (the same bytes), or
        another line under a used id. A dead letter does not reserve its id: a valid line
        that carries it takes it (True). Under an id a processed message holds, another
        line has no effect and is dead-lettered as `duplicate_id`."""
        digest = message_digest(inbound.raw)
        if prior.digest is None or prior.digest == digest:
            self.counts.duplicates += 1
            return False
        message_id = inbound_id(message)
        if not prior.dead_lettered:
            self._log(inbound, None)  # not a duplicate: a replay dead-letters it again
            self._dead_letter(
                inbound, "duplicate_id",
                f"message id {message_id} was used before by a line with other bytes;"
                " this line has no effect", message_id, claim=False)
            return False
        if isinstance(message, Message):
            self._batch.released.add(message.id)
        return True

    def _all_settled_before(self, message: Message, moved: bool) -> bool:
        """True if no deadline before the message's time can still be open. For a writer
        that tracks every deadline: when the message moved the watermark (which settled
        them), or when none it tracks falls before the message's time."""
        return self._tracks_every_deadline and (
            moved or not self._deadlines.any_before(message.at))

    def _record_offset(self, inbound: Inbound) -> None:
        if inbound.partition is not None and inbound.offset is not None:
            self._batch.offsets[(inbound.source, inbound.partition)] = inbound.offset + 1

    def advance(self, watermark: datetime) -> bool:
        """Move the watermark forward and settle every tracked deadline it has passed;
        True if it moved."""
        if self.watermark is not None and watermark <= self.watermark:
            return False
        self.watermark = watermark
        self._batch.watermark = watermark
        settled = self.counts.expired + self.counts.dead_lettered
        self._expire_before(watermark)
        self._expire_parked(watermark)
        if self.counts.expired + self.counts.dead_lettered != settled and (
            self._logged_until is None or watermark > self._logged_until
        ):
            # Moved by the clock, not by a message, and it settled something: a replay
            # must move it here too.
            self._batch.inbound.append((LOGGED_CLOCK, watermark.isoformat(), None))
            self._logged_until = watermark
        return True

    def _expire_before(self, limit: datetime) -> None:
        while (due := self._deadlines.pop_before(limit)) is not None:
            kind, aggregate_id = due
            self._expire(kind, aggregate_id)

    def _expire(self, kind: str, aggregate_id: UUID) -> None:
        aggregate = self._get(aggregate_id)
        if isinstance(aggregate, Order) and not aggregate.is_final:
            account = self.account(aggregate.account)
            assert account is not None, f"order {aggregate.order} has no account"
            ledger.expire_order(aggregate, account)
            self.touch(aggregate, account)
            self.counts.expired += 1
        elif isinstance(aggregate, RefundRequest) and aggregate.deadline is not None:
            account = self.account(aggregate.account)
            assert account is not None, f"refund {aggregate.request} has no account"
            ledger.expire_refund(aggregate, account)
            self.touch(aggregate, account)
            self.counts.expired += 1

    def _settle_overtaken(self, message: Message) -> None:
        """Deadlines before this message's time, of its order and its account, go first."""
        at, data = message.at, message.data
        order_ref = data.get("order")
        order = self.order(order_ref) if order_ref else None
        if order is not None and order.deadline is not None and order.deadline < at:
            self._expire("order", order.id)
        request_ref = data.get("request")
        refund = self.refund(request_ref) if request_ref else None
        account_ref = (
            data.get("account")
            or (order.account if order else None)
            or (refund.account if refund else None)
        )
        account = self.account(account_ref) if account_ref else None
        if account is None:
            return
        for ref in _in_order(account.holds):
            held = self.order(ref)
            if held is not None and held.deadline is not None and held.deadline < at:
                self._expire("order", held.id)
        for ref in _in_order(account.pending_refunds):
            refund = self.refund(ref)
            if refund is not None and refund.deadline is not None and refund.deadline < at:
                self._expire("request", refund.id)

    def _apply(self, inbound: Inbound, message: Message, *, settled: bool = False) -> None:
        """`settled`: every deadline before the message's time is settled already (see
        `_all_settled_before`), so none can be overtaken."""
        if not settled:
            self._settle_overtaken(message)
        policy = self._in_force.at(message.at, self._batch.policy_versions)
        if policy is None:
            self._dead_letter(
                inbound, "no_policy_in_force",
                f"no version of policy {self.versions.name} is in force at {iso(message.at)}",
                message.id,
            )
            return
        self.policy = policy
        try:
            outcome = HANDLERS[message.type](self, message)
        except Refused as refusal:
            self._reject(inbound, message, refusal)
            return
        except CurrencyMismatch as error:
            self._dead_letter(inbound, error.reason, str(error), message.id)
            return
        if isinstance(outcome, Park):
            self._park(inbound, message, outcome)
            return
        if isinstance(outcome, Refusal):
            self._reject(inbound, message, Refused(outcome.reason, outcome.detail))
        elif isinstance(outcome, Ignored):
            self.counts.ignored += 1
            self._processed(inbound, message, "ignored", outcome.reason)
        else:
            self.counts.applied += 1
            self._processed(inbound, message, "applied", None)
        self._unpark_for(message)

    def _processed(
        self, inbound: Inbound, message: Message, outcome: str, reason: str | None
    ) -> None:
        seen = self._seen_in_batch.get(message.id)  # holds this line's digest (process)
        digest = seen.digest if seen is not None and seen.digest else message_digest(inbound.raw)
        self._batch.processed.append((message.id, message.type, outcome, reason, digest))

    def _reject(self, inbound: Inbound, message: Message, refusal: Refused) -> None:
        self.counts.rejected += 1
        self._processed(inbound, message, "rejected", refusal.reason)
        subject = next(
            (message.data[k] for k in ("order", "request", "deposit") if message.data.get(k)),
            None,
        )
        self._batch.rejections.append((
            message.id, message.type, iso(message.at), message.data.get("account"),
            subject, refusal.reason, refusal.detail, ",".join(refusal.rules),
        ))

    def _dead_letter(
        self, inbound: Inbound, reason: str, detail: str, message_id: str | None,
        *, claim: bool = True,
    ) -> None:
        """Keep the original bytes and why. With `claim`, the id is recorded as seen (a
        redelivery of these bytes is a duplicate; a valid line with other bytes takes it)."""
        self.counts.dead_lettered += 1
        if message_id is not None and claim:
            digest = message_digest(inbound.raw)
            self._seen_in_batch[message_id] = Seen(True, digest)
            self._batch.processed.append((message_id, "", "dead_lettered", reason, digest))
        self._batch.dead_letters.append((
            message_id, reason, detail, inbound.source, inbound.partition, inbound.offset,
            inbound.raw,
        ))

    # Parking: messages about orders or refund requests that are not known yet.

    def _park(self, inbound: Inbound, message: Message, park: Park) -> None:
        self.counts.parked += 1
        parked = Parked(message.id, park.kind, park.subject, message.at, inbound)
        self._parking.add(parked)
        self._batch.parked[message.id] = parked

    def _unpark_for(self, message: Message) -> None:
        if message.type == "order.requested":
            key = ("order", message.data["order"])
        elif message.type == "account.opened":
            key = ("account", message.data["account"])
        elif message.type == "refund.requested":
            key = ("request", message.data["request"])
        else:
            return
        for parked in self._parking.release(*key):
            self._unpark(parked)
            retried = decode(parked.inbound.raw)
            self._apply(parked.inbound, retried)

    def _unpark(self, parked: Parked) -> None:
        self.counts.parked -= 1
        if self._batch.parked.pop(parked.message_id, None) is None:
            self._batch.unparked.add(parked.message_id)

    def _expire_parked(self, watermark: datetime) -> None:
        for parked in self._parking.older_than(watermark - self.park_limit):
            self._dead_letter_parked(parked)

    def dead_letter_all_parked(self) -> None:
        """At the end of a finite input: whatever still waits will not be resolved by it."""
        waiting = self._parking.take_all()
        if waiting:
            self._batch.inbound.append((LOGGED_END, None, None))
        for parked in waiting:
            self._dead_letter_parked(parked)

    # The inbound log a replay reads.

    def _log(self, inbound: Inbound, at: datetime | None) -> None:
        self._batch.inbound.append((LOGGED_MESSAGE, None, inbound.raw))
        if at is not None and (self._logged_until is None or at > self._logged_until):
            self._logged_until = at

    def _dead_letter_parked(self, parked: Parked) -> None:
        self._unpark(parked)
        awaited = "account.opened for" if parked.kind == "account" else parked.kind
        self._dead_letter(
            parked.inbound, f"unknown_{parked.kind}",
            f"no {awaited} {parked.subject} arrived", parked.message_id,
        )

    def commit(self) -> Batch:
        """Commit the batch in hand; returns it (its dead letters go on to a topic)."""
        batch = self._batch
        if batch.released:  # the rows by which this batch's dead letters held those ids
            batch.processed = [
                row for row in batch.processed
                if not (row[0] in batch.released and row[2] == "dead_lettered")
            ]
        if len(batch) or batch.aggregates or batch.offsets or batch.watermark:
            try:
                self.store.commit(batch)
            except BaseException:
                self.store.forget(list(batch.aggregates))
                raise
        self._batch = self._new_batch()
        self._seen_in_batch.clear()
        return batch

    def _new_batch(self) -> Batch:
        return Batch(consumer_group=self.consumer_group, policy=self.versions.name)

    @property
    def pending(self) -> int:
        return len(self._batch)
