"""What the engine writes into the batch of each message: processed, rejected, dead-lettered,
late, and the lines a replay reads."""

from __future__ import annotations

from smsledger.domain.errors import Refused
from smsledger.projections.formats import iso

from .context import BatchContext
from .counts import Counts
from .journal import LOGGED_MESSAGE, Inbound, Parked, Seen, message_digest
from .messages import Message
from .schedule import Ownership

CLOCK_TICK = "clock.tick"


class Recording(BatchContext):
    """The engine's records of outcomes, into the batch in hand (`engine.Engine`)."""

    counts: Counts
    ownership: Ownership
    _seen_in_batch: dict[str, Seen]

    def _processed(
        self, inbound: Inbound, message: Message, outcome: str, reason: str | None
    ) -> None:
        seen = self._seen_in_batch.get(message.id)  # holds this line's digest (process)
        digest = seen.digest if seen is not None and seen.digest else message_digest(inbound.raw)
        self._batch.processed.append((message.id, message.type, outcome, reason, digest))
        self._time_moved_by(inbound, message)

    def _time_moved_by(self, inbound: Inbound, message: Message) -> None:
        """A processed message moves its partition's latest event time and the watermark;
        one more than the allowed lateness behind its partition's clock is counted and
        journalled as late."""
        key = self.ownership.clock_of_record(inbound)
        if self.settling.observe(key, message.at):
            self._batch.watermark = message.at
        if message.type == CLOCK_TICK:
            return
        clock = self.settling.behind(key, message.at)
        if clock is not None:
            self.counts.late += 1
            self._batch.late.append((message.id, iso(message.at), iso(clock), inbound.source,
                                     inbound.partition, inbound.offset))

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

    # The inbound log a replay reads.

    def _log(self, inbound: Inbound) -> None:
        self._batch.inbound.append((LOGGED_MESSAGE, None, inbound.raw))

    def _dead_letter_parked(self, parked: Parked) -> None:
        awaited = "account.opened for" if parked.kind == "account" else parked.kind
        self._dead_letter(
            parked.inbound, f"unknown_{parked.kind}",
            f"no {awaited} {parked.subject} arrived", parked.message_id,
        )
