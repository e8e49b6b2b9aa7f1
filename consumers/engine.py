"""The engine: applies batches of inbound messages with exactly-once effect.

Per batch it decodes, drops message ids seen before, applies the rest in order, and
commits the events together with the journal (processed ids, rejections, dead letters,
parked messages, deadlines, offsets, clocks, the watermark) in one transaction. Event time
and the settling of deadlines are `settling.Settling`'s; messages waiting for an order or
refund request are `parking.Parking`'s; the aggregates as the handlers see them are
`context.BatchContext`'s; what the batch records of each message is `recording.Recording`'s;
clocks moving on and the end of the input are `clocks.Clocks`'.

A message whose time is further ahead of the wall clock than `max_future` is
dead-lettered (`future`): one line must not be able to move the ledger's time for good.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from smsledger.domain.errors import CurrencyMismatch, Refused
from smsledger.domain.policies import Policy
from smsledger.domain.policy_versions import PolicyVersions
from smsledger.projections.formats import iso

from .clocks import Clocks
from .context import decoded_records, referenced_ids
from .counts import Counts
from .handlers import HANDLERS
from .journal import Batch, Inbound, LedgerStore, Parked, Seen, message_digest
from .messages import DecodeError, Message, decode
from .outcomes import Ignored, Park, Refusal
from .parking import Parking
from .policy_choice import VersionInForce
from .recording import CLOCK_TICK
from .schedule import ClockKey, Ownership
from .settling import Settling, shifted

__all__ = ["ALLOWED_LATENESS", "MAX_FUTURE", "PARK_LIMIT", "Counts", "Engine"]

PARK_LIMIT = timedelta(hours=1)
ALLOWED_LATENESS = timedelta(minutes=5)
MAX_FUTURE = timedelta(days=1)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def inbound_id(message: Message | DecodeError) -> str | None:
    return message.id if isinstance(message, Message) else message.message_id


class Engine(Clocks):
    """Applies messages to the ledger; one engine per writer of a set of accounts."""

    def __init__(
        self, store: LedgerStore, policy: Policy | PolicyVersions, *, consumer_group: str = "",
        park_limit: timedelta = PARK_LIMIT, ownership: Ownership | None = None,
        lateness: timedelta = ALLOWED_LATENESS, max_future: timedelta = MAX_FUTURE,
        wall_clock: Callable[[], datetime] = _wall_clock,
    ) -> None:
        self.store = store
        self.versions = policy if isinstance(policy, PolicyVersions) else PolicyVersions.of(policy)
        self.consumer_group = consumer_group
        self.park_limit = park_limit
        self.max_future = max_future
        self.wall_clock = wall_clock
        self.counts = Counts()
        self.ownership = ownership or Ownership()
        self.lateness = lateness
        self._in_force = VersionInForce(self.versions)
        self._load()

    def _load(self) -> None:
        """Read what the engine keeps of the store: the clocks and the watermark, the
        deadlines and the parked messages it owns."""
        store, owns, consumer_group = self.store, self.ownership, self.consumer_group
        self.settling = Settling(self, self.counts, watermark=store.watermark(),
                                 ownership=owns, lateness=self.lateness)
        # The version in force at the message being handled (the handlers' `ctx.policy`).
        self.policy: Policy = self.versions.in_force(self.settling.watermark)
        for aggregate_id, kind, due, account in store.deadlines():
            if owns.account(account):
                self.settling.restore(aggregate_id, kind, due, account)
        mine = set(owns.clocks())
        for key, (clock, latest) in store.clocks(consumer_group).items():
            if key in mine:
                self.settling.restore_times(key, clock, latest)
        self.parking = Parking(self.counts)
        for parked in store.parked():
            if owns.parked(parked):
                self.parking.restore(owns.clock_of_record(parked.inbound), parked)
        self._batch = self._new_batch()
        self._seen_in_batch: dict[str, Seen] = {}

    def reload(self) -> None:
        """Drop the batch in hand and everything read, and read the store again: another
        writer committed first (the batch conflicted with what it wrote)."""
        self.store.forget()
        self._load()

    @property
    def watermark(self) -> datetime | None:
        return self.settling.watermark

    def latest_times(self) -> dict[ClockKey, datetime]:
        """The latest event time processed on each partition this engine owns."""
        latest = self.settling.latest
        return {key: latest[key] for key in self.ownership.clocks() if key in latest}

    # Batches.

    def process(self, records: Iterable[Inbound]) -> None:
        """Apply records in order; the caller commits with `commit()`."""
        decoded = decoded_records(records)
        self.store.prefetch(referenced_ids(m for _, m in decoded if isinstance(m, Message)))
        ids_ = [m.id if isinstance(m, Message) else m.message_id for _, m in decoded]
        known = [i for i in ids_ if i is not None]
        seen = self.store.seen(known) if known else {}
        horizon = shifted(self.wall_clock(), self.max_future)
        clock_of = self.ownership.clock_of_record
        for (inbound, message), message_id in zip(decoded, ids_, strict=True):
            prior = None
            if message_id is not None:
                prior = self._seen_in_batch.get(message_id) or seen.get(message_id)
            if prior is not None and not self._takes_used_id(inbound, message, prior):
                if isinstance(message, Message) and message.type == CLOCK_TICK and (
                        message.at <= horizon):
                    # One tick reaches every partition under one id: each copy moves its
                    # own partition's clock (moving a clock again changes nothing).
                    self._tick(clock_of(inbound), message.at)
            elif isinstance(message, DecodeError):
                self._log(inbound)
                self._dead_letter(inbound, message.reason, message.detail, message_id,
                                  claim=prior is None)
            elif message.at > horizon:
                self._dead_letter(inbound, "future", f"at {iso(message.at)} is more than "
                                  f"{self.max_future} ahead of the clock", message_id)
            else:
                self._seen_in_batch[message.id] = Seen(False, message_digest(inbound.raw))
                self._log(inbound)
                key = clock_of(inbound)
                self._apply(inbound, message,
                            settled=self.settling.all_settled_before(message, key))
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
            self._log(inbound)  # not a duplicate: a replay dead-letters it again
            self._dead_letter(
                inbound, "duplicate_id",
                f"message id {message_id} was used before by a line with other bytes;"
                " this line has no effect", message_id, claim=False)
            return False
        if isinstance(message, Message):
            self._batch.released.add(message.id)
        return True

    def _record_offset(self, inbound: Inbound) -> None:
        if inbound.partition is not None and inbound.offset is not None:
            self._batch.offsets[(inbound.source, inbound.partition)] = inbound.offset + 1

    # Messages.

    def _apply(self, inbound: Inbound, message: Message, *, settled: bool = False) -> None:
        """`settled`: every deadline before the message's time is settled already (see
        `Settling.all_settled_before`), so none can be overtaken."""
        if message.type == CLOCK_TICK:
            self._tick(self.ownership.clock_of_record(inbound), message.at, by_message=True)
        elif not settled:
            self.settling.settle_overtaken(message)
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
            self.parking.park(self._batch, self.ownership.clock_of_record(inbound), Parked(
                message.id, outcome.kind, outcome.subject, message.at, inbound))
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

    # Parked messages: applied when what they wait for appears, else dead-lettered.

    def _unpark_for(self, message: Message) -> None:
        if message.type == "order.requested":
            key = ("order", message.data["order"])
        elif message.type == "account.opened":
            key = ("account", message.data["account"])
        elif message.type == "refund.requested":
            key = ("request", message.data["request"])
        else:
            return
        bound = shifted(message.at, -self.park_limit)  # on the account's own time: its order's
        for parked in self.parking.release(self._batch, *key):
            if parked.at < bound:
                self._dead_letter_parked(parked)
            else:
                self._apply(parked.inbound, decode(parked.inbound.raw))

    def commit(self) -> Batch:
        """Commit the batch in hand; returns it (its dead letters go on to a topic)."""
        batch = self._batch
        batch.clocks.update(self.settling.take_moved())
        if batch.released:  # the rows by which this batch's dead letters held those ids
            batch.processed = [
                row for row in batch.processed
                if not (row[0] in batch.released and row[2] == "dead_lettered")
            ]
        if len(batch) or batch.aggregates or batch.offsets or batch.watermark or batch.clocks:
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
