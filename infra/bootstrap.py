"""The composition point: builds the ledger from explicit `Settings`; nothing connects earlier."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from smsledger.domain.policy_versions import PolicySet, PolicyVersions, store_conflicts
from smsledger.infra.heap import tune_collector
from smsledger.infra.policy_files import load_policy_set
from smsledger.infra.settings import DEFAULT_POLICY, Settings
from smsledger.infra.stores.selection import OpenStore, StoreError, masked, open_store
from smsledger.projections import runner
from smsledger.projections.rows import BatchRows
from smsledger.projections.runner import LedgerClock

if TYPE_CHECKING:  # the engine (and the domain's aggregates) only for the writers
    from smsledger.consumers.engine import Engine
    from smsledger.consumers.schedule import Ownership


@dataclass
class Ledger:
    """One opened store with its policy (every version of it, by effective date): engines,
    projections and queries hang off it."""

    settings: Settings
    opened: OpenStore
    policy: PolicyVersions
    # Read-model rows this process keeps from one catch-up to the next.
    _rows: BatchRows = field(default_factory=lambda: BatchRows(keep=True), repr=False)

    def engine(self, consumer_group: str = "", ownership: Ownership | None = None) -> Engine:
        from smsledger.consumers.engine import Engine

        return Engine(self.opened.store, self.policy, consumer_group=consumer_group,
                      ownership=ownership, lateness=self.settings.allowed_lateness,
                      max_future=self.settings.max_future)

    def clock(self) -> LedgerClock:
        """The event-time clock and the policy version in force at it."""
        now = self.opened.store.watermark()
        return LedgerClock(now, self.policy.in_force(now))

    def catch_up(
        self, progress: Callable[[int], None] | None = None, *, derive: bool = True
    ) -> int:
        """Fold the events not folded yet; with `derive`, refresh the derived columns."""
        return runner.catch_up(
            self.opened.database, self.opened.recorder.select_stored_after, self.clock(),
            progress=progress, rows=self._rows, log=self.opened.recorder, derive=derive,
        )

    def refresh_derived(self) -> None:
        runner.refresh_derived(self.opened.database, self.clock())

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        return runner.rebuild(
            self.opened.database, self.opened.recorder, self.clock(),
            progress=progress, rows=self._rows,
        )

    def close(self) -> None:
        self.opened.close()


def bootstrap(
    settings: Settings, *, create: bool = True, remember_policy_dir: bool = True
) -> Ledger:
    """Open the store and settle the policy: a store keeps the policy it was run with, and
    no version its decisions used may change. With `create` (the writers: ingest, consume,
    demo) a missing store is created. A policy directory given is remembered by the store
    for later commands (unless `remember_policy_dir` is false: a reader that must not
    write)."""
    given = load_policy_set(settings.policy_dir)  # a bad file fails before anything opens
    if settings.policy is not None:
        given.policy(settings.policy)  # so does an unknown name
    lock = cancel_lock(settings)  # and a negative cancel lock
    tune_collector()  # every process that opens a ledger keeps a large, long-lived heap
    opened = open_store(settings.store, create=create)
    upgrade = getattr(opened.recorder, "chain_upgrade", None)
    if upgrade is not None:  # a store written before the hash chain existed, chained now
        print(f"smsledger: {upgrade.message()}", file=sys.stderr)
    rekeyed = getattr(opened.recorder, "rekeyed", None)
    if rekeyed:  # an SQLite log written before events were kept by aggregate key
        print(f"smsledger: the event log's {rekeyed} events are now kept by aggregate key"
              " (once; positions and digests unchanged)", file=sys.stderr)
    try:
        policy = _settle_policy(settings, opened, given, remember_policy_dir)
        if lock is not None:  # the setting applies to every version
            policy = policy.with_policies(lambda p: replace(p, cancel_lock=lock))
        runner.create_tables(opened.database)
    except BaseException:
        opened.close()
        raise
    return Ledger(settings, opened, policy)


def scratch_ledger(url: str, policy: PolicyVersions) -> Ledger:
    """A ledger on a new store decided by `policy` as given (what-if replays)."""
    opened = open_store(url)
    runner.create_tables(opened.database)
    return Ledger(Settings(store=url, policy=policy.name), opened, policy)


def _settle_policy(
    settings: Settings, opened: OpenStore, given: PolicySet, remember: bool
) -> PolicyVersions:
    store = opened.store
    stored = store.policy_name()
    if settings.policy is not None and stored is not None and stored != settings.policy:
        raise StoreError(
            f"the store {masked(settings.store)} runs policy {stored!r}; it cannot be run with "
            f"{settings.policy!r} (omit --policy to use the store's)"
        )
    remembered = store.policy_dir()
    directory = os.path.abspath(settings.policy_dir) if settings.policy_dir else remembered
    policies = given if settings.policy_dir or remembered is None else _remembered(remembered)
    versions = policies.policy(settings.policy or stored or DEFAULT_POLICY)
    problems = store_conflicts(versions, store.used_policy_versions())
    if problems:
        raise StoreError(f"the store {masked(settings.store)} refuses these policy versions: "
                         + "; ".join(problems))
    if remember and directory is not None and directory != remembered:
        store.remember_policy_dir(directory)
    return versions


def _remembered(directory: str) -> PolicySet:
    try:
        return load_policy_set(directory)
    except ValueError as error:
        raise StoreError(f"{error} (the policy directory this store was last given)") from None


def cancel_lock(settings: Settings) -> timedelta | None:
    """The early-cancel lock the settings set for every version (None: the files')."""
    seconds = settings.cancel_lock
    if seconds is None:
        return None
    if seconds < 0:
        raise ValueError(f"the cancel lock must be 0 or more seconds, not {seconds}")
    return timedelta(seconds=seconds)


def open_existing(settings: Settings) -> Ledger:
    """Open a store that already holds a ledger, for commands that read one (query,
    history, audit, project, …): a store that does not exist or holds no ledger is a
    StoreError naming its URL, and nothing is created."""
    return bootstrap(settings, create=False)
