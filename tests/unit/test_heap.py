"""The collector settings every ledger process runs with: rarer, and still collecting."""

from __future__ import annotations

import gc
import weakref

from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.heap import THRESHOLDS
from smsledger.infra.settings import Settings
from tests.scenario import memory_store_url


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_opening_a_ledger_sets_the_thresholds_and_leaves_collection_on() -> None:
    gc.set_threshold(700, 10, 10)
    ledger = bootstrap(Settings(store=memory_store_url()))
    ledger.close()
    assert gc.get_threshold() == THRESHOLDS
    assert gc.isenabled()


def test_cyclic_garbage_is_still_collected_without_an_explicit_collect() -> None:
    bootstrap(Settings(store=memory_store_url())).close()
    gc.collect()
    nodes = [_Node() for _ in range(1000)]
    watched = [weakref.ref(n) for n in nodes]
    del nodes
    assert any(w() is not None for w in watched)  # unreachable, but not freed yet
    alive = [[] for _ in range(THRESHOLDS[0] + 1000)]  # enough new containers to trigger it
    assert all(w() is None for w in watched)
    assert len(alive) > THRESHOLDS[0]
