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


def test_the_refresh_waits_until_folding_has_taken_its_share() -> None:
    pacer = RefreshPacer(share=0.25)  # folding may take 3x the last refresh
    assert not pacer.due(idle=False)  # nothing folded yet
    pacer.folded(100, 0.5)
    assert pacer.due(idle=False)  # no refresh yet: the first is due at once
    pacer.refreshed(1.0)
    pacer.folded(100, 2.0)
    assert not pacer.due(idle=False)
    pacer.folded(100, 1.0)
    assert pacer.due(idle=False)


def test_an_idle_child_refreshes_what_it_folded_and_nothing_else() -> None:
    pacer = RefreshPacer(share=0.25)
    pacer.folded(10, 0.1)
    pacer.refreshed(5.0)
    assert not pacer.due(idle=True)  # nothing folded since
    pacer.folded(10, 0.1)
    assert not pacer.due(idle=False)
    assert pacer.due(idle=True)
