"""What-if replays: a store's recorded inbound messages (its `inbound_log`) replayed under
another policy into scratch stores, the live store only read.

Both sides are replays, made the same way: the baseline under the store's own policy
versions, the what-if under the other from `since` on (the store's own before it, so that
balances are what they were). Nothing after `until` is replayed; the figures are the flows
between `since` and `until` (see `infra.whatif_figures`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from smsledger.consumers.engine import Engine
from smsledger.consumers.journal import (
    LOGGED_CLOCK,
    LOGGED_END,
    LOGGED_MESSAGE,
    LOGGED_MESSAGES,
    LOGGED_OVER,
    Inbound,
    logged_lines,
)
from smsledger.consumers.messages import DecodeError, Message, decode
from smsledger.domain.policy_versions import PolicyVersions, spliced
from smsledger.infra.bootstrap import Ledger, scratch_ledger
from smsledger.infra.stores.journal_sql import stored_clock
from smsledger.infra.whatif_figures import Figures, figures
from smsledger.projections import runner

PAGE = 20  # rows of the log, each up to a batch of messages
BATCH = 8000


class ReplayError(RuntimeError):
    """The store cannot be replayed (it holds no complete inbound log)."""


@dataclass(frozen=True)
class Window:
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class Side:
    """One replay: the policy versions it used, and its figures at `since` and at the end."""

    versions: list[str]
    start: Figures
    end: Figures
    messages: int


def inbound_log(ledger: Ledger) -> Iterator[tuple[int, str, Any, bytes | None]]:
    """The store's inbound log in the order it was processed, a message at a time:
    (row, kind, time of a clock mark as stored, bytes of a message)."""
    db, after = ledger.opened.database, 0
    while True:
        rows = db.query("SELECT seq, kind, at, raw FROM inbound_log WHERE seq > ?"
                        " ORDER BY seq LIMIT ?", (after, PAGE))
        if not rows:
            return
        for seq, kind, at, raw in rows:
            if kind == LOGGED_MESSAGES:
                for line in logged_lines(bytes(raw)):
                    yield seq, LOGGED_MESSAGE, None, line
            else:
                yield seq, kind, at, None
        after = rows[-1][0]


def check_replayable(ledger: Ledger) -> None:
    """Every message the journal knows must be in the log (a store written before the log
    was kept has none, or only its later part)."""
    db = ledger.opened.database
    logged = db.query("SELECT COALESCE(SUM(lines), 0) FROM inbound_log")[0][0]
    known = (db.query("SELECT COUNT(*) FROM processed_messages")[0][0]
             + db.query("SELECT COUNT(*) FROM parked_messages")[0][0])
    if logged < known:
        raise ReplayError(
            f"the store's inbound log holds {logged} messages of the {known} it processed"
            " (it was written before the log was kept): it cannot be replayed"
        )


def versions_for_whatif(
    store: PolicyVersions, other: PolicyVersions, window: Window
) -> PolicyVersions:
    """The store's versions before `since`, the other's from then on (all of them when no
    `since`)."""
    return other if window.since is None else spliced(store, other, window.since)


def replay(
    ledger: Ledger, versions: PolicyVersions, window: Window, folder: Path, name: str
) -> Side:
    """Replay the store's log under `versions` into a scratch SQLite store in `folder`."""
    scratch = scratch_ledger(f"sqlite:///{folder / name}.db", versions)
    try:
        return _Replayer(ledger, scratch, window).run()
    finally:
        scratch.close()


class _Replayer:
    def __init__(self, live: Ledger, scratch: Ledger, window: Window) -> None:
        self.live, self.scratch, self.window = live, scratch, window
        self.engine: Engine = scratch.engine()
        self.pending: list[Inbound] = []
        self.start: Figures | None = None if window.since is not None else Figures.empty()
        self.messages = 0
        self.messages_seen = 0  # the offset of a replayed line: its place in the log

    def run(self) -> Side:
        since, until = self.window.since, self.window.until
        for _, kind, at, raw in inbound_log(self.live):
            if kind == LOGGED_END:
                self._flush()
                self.engine.end_of_input()
            elif kind == LOGGED_OVER:
                self._flush()
                self.engine.input_over()
            elif kind == LOGGED_CLOCK:
                clock = stored_clock(at)
                if until is not None and clock >= until:
                    continue
                self._reach(clock)
                self._flush()
                self.engine.advance_clocks({None: clock})
            else:
                decoded = _decoded(raw or b"")
                moment = decoded.at if isinstance(decoded, Message) else None
                if until is not None and moment is not None and moment >= until:
                    continue
                if moment is not None and since is not None:
                    self._reach(moment)
                self.messages_seen += 1
                self.pending.append(
                    Inbound(raw or b"", "replay", None, self.messages_seen, decoded))
                if len(self.pending) >= BATCH:
                    self._flush()
        if self.start is None and since is not None:  # nothing at or after `since`
            self._reach(since)
        self._flush()
        if until is not None:
            self.engine.settle_to(until)
        self.engine.commit()
        self.scratch.catch_up()
        assert self.start is not None
        return Side(used_versions(self.scratch), self.start, figures(self.scratch, since),
                    self.messages)

    def _reach(self, moment: datetime) -> None:
        """At the first time at or after `since`: settle up to it and take the figures the
        window's flows are counted from."""
        since = self.window.since
        if self.start is not None or since is None or moment < since:
            return
        self._flush()
        self.engine.settle_to(since)
        self.engine.commit()
        self.scratch.catch_up()
        self.start = figures(self.scratch, None)

    def _flush(self) -> None:
        if self.pending:
            self.messages += len(self.pending)
            self.engine.process(self.pending)
            self.engine.commit()
            self.pending = []


def _decoded(raw: bytes) -> Message | DecodeError:
    try:
        return decode(raw)
    except DecodeError as error:
        return error


def used_versions(ledger: Ledger) -> list[str]:
    rows = ledger.opened.database.query(
        "SELECT ref FROM policy_versions ORDER BY first_at, ref")
    return [r[0] for r in rows]


def store_is_caught_up(ledger: Ledger) -> bool:
    last: int = ledger.opened.recorder.last_notification_id()
    return runner.position(ledger.opened.database) == last


def run_whatif(
    ledger: Ledger, other: PolicyVersions, window: Window
) -> tuple[Side, Side, dict[str, Any]]:
    """The baseline and the what-if replays of the store behind `ledger`."""
    check_replayable(ledger)
    with tempfile.TemporaryDirectory(prefix="smsledger-whatif-") as folder:
        baseline = replay(ledger, ledger.policy, window, Path(folder), "baseline")
        whatif = replay(ledger, versions_for_whatif(ledger.policy, other, window), window,
                        Path(folder), "whatif")
    live = None
    if window == Window() and store_is_caught_up(ledger):
        live = figures(ledger, None).accounts == baseline.end.accounts
    return baseline, whatif, {"baseline_matches_store": live}
