"""When the read models are folded in a second process, and how often it refreshes the
columns derived across rows."""

from __future__ import annotations

from smsledger.infra.alongside import (
    ALONE_FROM_EVENTS,
    INPUT_BYTES_PER_EVENT,
    WORTH_IT_BYTES,
    RefreshPacer,
    worth_it,
)
from tests.clocks import ManualClock

SQLITE = "sqlite:///ledger.db"


def test_a_small_input_is_ingested_in_one_process() -> None:
    assert not worth_it(SQLITE, WORTH_IT_BYTES - 1, 0)
    assert worth_it(SQLITE, WORTH_IT_BYTES, 0)


def test_on_sqlite_a_log_that_would_grow_past_the_bound_is_ingested_in_one_process() -> None:
    below = (ALONE_FROM_EVENTS - 1) * INPUT_BYTES_PER_EVENT
    assert worth_it(SQLITE, below, 0)
    assert not worth_it(SQLITE, below + INPUT_BYTES_PER_EVENT, 0)
    # The events the store holds already count: a medium input into a large store.
    assert not worth_it(SQLITE, WORTH_IT_BYTES, ALONE_FROM_EVENTS)


def test_postgresql_keeps_the_second_process_for_a_large_input() -> None:
    assert worth_it("postgresql://u@h/db?schema=s", ALONE_FROM_EVENTS * 1_000, 10**7)


def test_the_refresh_waits_until_it_would_take_no_more_than_its_share() -> None:
    clock = ManualClock()
    pacer = RefreshPacer(share=0.25, clock=clock)  # 3 s since for each second refreshing
    assert not pacer.due()  # nothing folded yet
    pacer.folded(100)
    assert pacer.due()  # the first at once
    with pacer.refreshing():
        clock.now += 1.0
    pacer.folded(100)
    clock.now += 2.9
    assert not pacer.due()
    clock.now += 0.1
    assert pacer.due()


def test_nothing_folded_since_the_last_refresh_needs_none() -> None:
    clock = ManualClock()
    pacer = RefreshPacer(share=0.25, clock=clock)
    pacer.folded(10)
    with pacer.refreshing():
        clock.now += 0.5
    clock.now += 100.0
    assert not pacer.due()
    pacer.folded(1)
    assert pacer.due()
