"""The composition point: builds the ledger from explicit `Settings`; nothing connects earlier."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from smsledger.consumers.engine import Engine
from smsledger.consumers.schedule import Ownership
from smsledger.domain.policies import Policy, policy_named
from smsledger.infra.heap import tune_collector
from smsledger.infra.settings import DEFAULT_POLICY, Settings
from smsledger.infra.stores.selection import OpenStore, StoreError, open_store
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


def bootstrap(settings: Settings) -> Ledger:
    """Open the store and settle the policy: a store keeps the policy it was run with."""
    if settings.policy is not None:
        policy_named(settings.policy)  # an unknown name fails before anything is opened
    tune_collector()  # every process that opens a ledger keeps a large, long-lived heap
    opened = open_store(settings.store)
    try:
        stored = opened.store.policy_name()
    except Exception:
        opened.close()
        raise
    if settings.policy is not None and stored is not None and stored != settings.policy:
        opened.close()
        raise StoreError(
            f"the store {settings.store} runs policy {stored!r}; it cannot be run with "
            f"{settings.policy!r} (omit --policy to use the store's)"
        )
    runner.create_tables(opened.database)
    return Ledger(settings, opened, policy_named(settings.policy or stored or DEFAULT_POLICY))
