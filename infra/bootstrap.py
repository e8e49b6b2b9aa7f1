"""The composition point: builds the ledger from explicit `Settings`; nothing connects earlier."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from smsledger.consumers.engine import Engine
from smsledger.consumers.schedule import Ownership
from smsledger.domain.policies import Policy, policy_named
from smsledger.infra.heap import tune_collector
from smsledger.infra.settings import DEFAULT_POLICY, Settings
from smsledger.infra.stores.selection import OpenStore, StoreError, masked, open_store
from smsledger.projections import runner
from smsledger.projections.rows import BatchRows
from smsledger.projections.runner import LedgerClock


@dataclass
class Ledger:
    """One opened store with its policy: engines, projections and queries hang off it."""

    settings: Settings
    opened: OpenStore
    policy: Policy
    # Read-model rows this process keeps from one catch-up to the next.
    _rows: BatchRows = field(default_factory=lambda: BatchRows(keep=True), repr=False)

    def engine(self, consumer_group: str = "", ownership: Ownership | None = None) -> Engine:
        return Engine(self.opened.store, self.policy, consumer_group=consumer_group,
                      ownership=ownership, lateness=self.settings.allowed_lateness,
                      max_future=self.settings.max_future)

    def clock(self) -> LedgerClock:
        """The event-time clock and the policy the ledger was last run with."""
        stored = self.opened.store.policy_name()
        policy = policy_named(stored) if stored else self.policy
        return LedgerClock(self.opened.store.watermark(), policy)

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        return runner.catch_up(
            self.opened.database, self.opened.recorder.select_stored_after, self.clock(),
            progress=progress, rows=self._rows, log=self.opened.recorder,
        )

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        return runner.rebuild(
            self.opened.database, self.opened.recorder, self.clock(),
            progress=progress, rows=self._rows,
        )

    def close(self) -> None:
        self.opened.close()


def bootstrap(settings: Settings, *, create: bool = True) -> Ledger:
    """Open the store and settle the policy: a store keeps the policy it was run with.
    With `create` (the writers: ingest, consume, demo) a missing store is created."""
    # An unknown policy name or a negative cancel lock fails before anything is opened.
    policy_named(settings.policy or DEFAULT_POLICY, cancel_lock_seconds=settings.cancel_lock)
    tune_collector()  # every process that opens a ledger keeps a large, long-lived heap
    opened = open_store(settings.store, create=create)
    upgrade = getattr(opened.recorder, "chain_upgrade", None)
    if upgrade is not None:  # a store written before the hash chain existed, chained now
        print(f"smsledger: {upgrade.message()}", file=sys.stderr)
    try:
        stored = opened.store.policy_name()
    except Exception:
        opened.close()
        raise
    if settings.policy is not None and stored is not None and stored != settings.policy:
        opened.close()
        raise StoreError(
            f"the store {masked(settings.store)} runs policy {stored!r}; it cannot be run with "
            f"{settings.policy!r} (omit --policy to use the store's)"
        )
    runner.create_tables(opened.database)
    policy = policy_named(settings.policy or stored or DEFAULT_POLICY,
                          cancel_lock_seconds=settings.cancel_lock)
    return Ledger(settings, opened, policy)


def open_existing(settings: Settings) -> Ledger:
    """Open a store that already holds a ledger, for commands that read one (query,
    history, audit, project, …): a store that does not exist or holds no ledger is a
    StoreError naming its URL, and nothing is created."""
    return bootstrap(settings, create=False)
