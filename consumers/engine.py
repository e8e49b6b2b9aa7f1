"""The engine: applies batches of inbound messages with exactly-once effect.

Per batch it decodes, drops message ids seen before, applies the rest in order, and
commits the events together with the journal (processed ids, rejections, dead letters,
parked messages, deadlines, offsets, the watermark) in one transaction. Event time and the
settling of deadlines are `settling.Settling`'s; messages waiting for an order or refund
request are `parking.Parking`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from smsledger.domain import ids
from smsledger.domain.account import Account
from smsledger.domain.errors import CurrencyMismatch, Refused
from smsledger.domain.order import Order
from smsledger.domain.policies import Policy
from smsledger.domain.refund import RefundRequest
from smsledger.projections.formats import iso

from .counts import Counts
from .handlers import HANDLERS, Ignored, Park, Refusal
from .journal import Batch, Inbound, LedgerStore, Parked
from .messages import DecodeError, Message, decode
from .parking import Parking
from .schedule import Ownership
from .settling import Settling

__all__ = ["PARK_LIMIT", "Counts", "Engine"]

PARK_LIMIT = timedelta(hours=1)

_REFERENCES = (("account", ids.account_id), ("order", ids.order_id),
               ("request", ids.refund_request_id))


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
        self, store: LedgerStore, policy: Policy, *, consumer_group: str = "",
        park_limit: timedelta = PARK_LIMIT, ownership: Ownership | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.consumer_group = consumer_group
        self.park_limit = park_limit
        self.counts = Counts()
        owns = ownership or Ownership()
        self.settling = Settling(self, self.counts, watermark=store.watermark(),
                                 tracks_every_deadline=type(owns) is Ownership)
        for aggregate_id, kind, due, account in store.deadlines():
            if owns.account(account):
                self.settling.deadlines.set(aggregate_id, kind, due)
        self.parking = Parking(self.counts)
        for parked in store.parked():
            if owns.parked(parked):
                self.parking.restore(parked)
        self._batch = self._new_batch()
        self._seen_in_batch: set[str] = set()

    @property
    def watermark(self) -> datetime | None:
        return self.settling.watermark

    # The Context the handlers see.

    def account(self, ref: str) -> Account | None:
        return self.aggregate(ids.account_id(ref))  # type: ignore[return-value]

    def order(self, ref: str) -> Order | None:
        return self.aggregate(ids.order_id(ref))  # type: ignore[return-value]

    def refund(self, ref: str) -> RefundRequest | None:
        return self.aggregate(ids.refund_request_id(ref))  # type: ignore[return-value]

    def open_orders(self, account: Account) -> list[Order]:
        found = [self.order(ref) for ref in account.holds]
        return [o for o in found if o is not None and not o.is_final]

    def touch(self, *aggregates: Account | Order | RefundRequest) -> None:
        pending, deadlines = self._batch.aggregates, self._batch.deadlines
        for aggregate in aggregates:
            pending[aggregate.id] = aggregate
            changed = self.settling.track(aggregate)
            if changed is not None:
                deadlines[aggregate.id] = changed

    def aggregate(self, aggregate_id: UUID) -> Account | Order | RefundRequest | None:
        """The batch's version of an aggregate, else the store's."""
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
        seen = self.store.seen(known) if known else set()
        for (inbound, message), message_id in zip(decoded, ids_, strict=True):
            if message_id is not None and (
                message_id in seen or message_id in self._seen_in_batch
            ):
                self.counts.duplicates += 1
            elif isinstance(message, DecodeError):
                self._dead_letter(inbound, message.reason, message.detail, message_id)
            else:
                self._seen_in_batch.add(message.id)
                moved = self.advance(message.at)
                self._apply(inbound, message,
                            settled=self.settling.all_settled_before(message, moved))
            self._record_offset(inbound)

    def _record_offset(self, inbound: Inbound) -> None:
        if inbound.partition is not None and inbound.offset is not None:
            self._batch.offsets[(inbound.source, inbound.partition)] = inbound.offset + 1

    def advance(self, watermark: datetime) -> bool:
        """Move the watermark forward, settling every tracked deadline it has passed and
        dead-lettering what has been parked too long; True if it moved."""
        if not self.settling.advance(watermark):
            return False
        self._batch.watermark = watermark
        for parked in self.parking.older_than(self._batch, watermark - self.park_limit):
            self._dead_letter_parked(parked)
        return True

    def _apply(self, inbound: Inbound, message: Message, *, settled: bool = False) -> None:
        """`settled`: every deadline before the message's time is settled already (see
        `Settling.all_settled_before`), so none can be overtaken."""
        if not settled:
            self.settling.settle_overtaken(message)
        try:
            outcome = HANDLERS[message.type](self, message)
        except Refused as refusal:
            self._reject(message, refusal)
            return
        except CurrencyMismatch as error:
            self._dead_letter(inbound, error.reason, str(error), message.id)
            return
        if isinstance(outcome, Park):
            self.parking.park(self._batch, Parked(
                message.id, outcome.kind, outcome.subject, message.at, inbound))
            return
        if isinstance(outcome, Refusal):
            self._reject(message, Refused(outcome.reason, outcome.detail))
        elif isinstance(outcome, Ignored):
            self.counts.ignored += 1
            self._processed(message, "ignored", outcome.reason)
        else:
            self.counts.applied += 1
            self._processed(message, "applied", None)
        self._unpark_for(message)

    def _processed(self, message: Message, outcome: str, reason: str | None) -> None:
        self._batch.processed.append((message.id, message.type, outcome, reason))

    def _reject(self, message: Message, refusal: Refused) -> None:
        self.counts.rejected += 1
        self._processed(message, "rejected", refusal.reason)
        subject = next(
            (message.data[k] for k in ("order", "request", "deposit") if message.data.get(k)),
            None,
        )
        self._batch.rejections.append((
            message.id, message.type, iso(message.at), message.data.get("account"),
            subject, refusal.reason, refusal.detail, ",".join(refusal.rules),
        ))

    def _dead_letter(
        self, inbound: Inbound, reason: str, detail: str, message_id: str | None
    ) -> None:
        """Keep the original bytes and why; the id counts as seen, whatever its payload."""
        self.counts.dead_lettered += 1
        if message_id is not None:
            self._seen_in_batch.add(message_id)
            self._batch.processed.append((message_id, "", "dead_lettered", reason))
        self._batch.dead_letters.append((
            message_id, reason, detail, inbound.source, inbound.partition, inbound.offset,
            inbound.raw,
        ))

    # Parked messages: applied when what they wait for appears, else dead-lettered.

    def _unpark_for(self, message: Message) -> None:
        if message.type == "order.requested":
            key = ("order", message.data["order"])
        elif message.type == "refund.requested":
            key = ("request", message.data["request"])
        else:
            return
        for parked in self.parking.release(self._batch, *key):
            self._apply(parked.inbound, decode(parked.inbound.raw))

    def dead_letter_all_parked(self) -> None:
        """At the end of a finite input: whatever still waits will not be resolved by it."""
        for parked in self.parking.take_all(self._batch):
            self._dead_letter_parked(parked)

    def _dead_letter_parked(self, parked: Parked) -> None:
        self._dead_letter(
            parked.inbound, f"unknown_{parked.kind}",
            f"no {parked.kind} {parked.subject} arrived", parked.message_id,
        )

    def commit(self) -> Batch:
        """Commit the batch in hand; returns it (its dead letters go on to a topic)."""
        batch = self._batch
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
        return Batch(consumer_group=self.consumer_group, policy=self.policy.name)

    @property
    def pending(self) -> int:
        return len(self._batch)
