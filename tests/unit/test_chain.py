"""The hash chain as the recorders write it: each event's digest covers its bytes and the
digest before it, the head row follows the log, and only this ledger's event classes are
ever resolved from a stored topic."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from smsledger.infra.audit.chain import verify_chain
from smsledger.infra.audit.replay import audit
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings
from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines
from smsledger.infra.stores.chain import (
    GENESIS,
    ChainError,
    DigestRef,
    chain_digests,
    chain_rows,
    leaf,
    link,
)
from smsledger.infra.stores.selection import StoreError
from smsledger.infra.stores.transcoding import FastMapper, OrjsonTranscoder, UnknownTopicError
from tests.scenario import Outcome, run

LINES = list(simulate_lines(SimulationConfig(accounts=8, days=0.5, seed=2)))


@pytest.fixture(scope="module")
def outcome() -> Outcome:
    return run(LINES, batch_size=37)


def chained(outcome: Outcome) -> list[tuple[object, ...]]:
    return outcome.ledger.opened.recorder.select_chain_after(0, 1_000_000)  # type: ignore[no-any-return]


def test_every_stored_event_carries_the_digest_of_its_bytes_and_of_the_one_before(
    outcome: Outcome
) -> None:
    rows = chained(outcome)
    assert len(rows) > 100
    recomputed = chain_rows(GENESIS, [row[:5] for row in rows])
    assert [bytes(row[5]) for row in rows] == recomputed


def test_the_chain_row_records_the_last_position_and_digest_written(outcome: Outcome) -> None:
    rows = chained(outcome)
    head = outcome.ledger.opened.database.query(
        "SELECT original_from, head_position, head_digest FROM ledger_chain")
    assert head == [(1, rows[-1][0], rows[-1][5])]


def test_the_write_path_and_the_audit_hash_the_same_bytes() -> None:
    event = StoredEvent(uuid4(), 3, "smsledger.domain.account:Account.Deposited", b'{"a":1}')
    [digest] = chain_digests(GENESIS, [event])
    assert digest == link(GENESIS, leaf(event.originator_id.bytes, 3, event.topic, event.state))
    altered = StoredEvent(event.originator_id, 3, event.topic, b'{"a":2}')
    assert chain_digests(GENESIS, [altered]) != [digest]


def test_a_digest_is_given_as_hex_or_position_and_hex() -> None:
    digest = bytes(range(32))
    assert DigestRef.parse(digest.hex()) == DigestRef(digest)
    assert DigestRef.parse(f"42:{digest.hex()}") == DigestRef(digest, 42)
    assert str(DigestRef(digest, 42)) == f"42:{digest.hex()}"
    for bad in ("", "abc", f"x:{digest.hex()}", digest.hex()[:-2], f"-1:{digest.hex()}"):
        with pytest.raises(ValueError, match="is not a digest"):
            DigestRef.parse(bad)


def test_a_topic_naming_any_other_module_is_not_imported() -> None:
    assert "this" not in sys.modules
    mapper = FastMapper(OrjsonTranscoder())
    with pytest.raises(UnknownTopicError, match="'this:Zen', which is not an event of this"):
        mapper.to_domain_event(StoredEvent(uuid4(), 1, "this:Zen", b"{}"))
    assert "this" not in sys.modules


def test_a_created_event_naming_another_aggregate_class_is_not_imported() -> None:
    state = (b'{"account":"a1","currency":"USD","eu_consumer":false,"registered":true,'
             b'"originator_topic":"this:Zen","timestamp":"2026-06-01T10:00:00+00:00"}')
    stored = StoredEvent(uuid4(), 1, "smsledger.domain.account:Account.Opened", state)
    with pytest.raises(UnknownTopicError, match="'this:Zen'"):
        FastMapper(OrjsonTranscoder()).to_domain_event(stored)
    assert "this" not in sys.modules


def _pre_chain_store(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "old.db"
    store = f"sqlite:///{path}"
    ledger = bootstrap(Settings(store=store, policy="sms-service"))
    from smsledger.consumers.ingest import ingest_lines

    ingest_lines(ledger.engine(), LINES, source="test", batch_size=50)
    ledger.close()
    with sqlite3.connect(path) as db:  # as the store was before the chain existed
        db.execute("ALTER TABLE stored_events DROP COLUMN digest")
        db.execute("DROP TABLE ledger_chain")
    db.close()
    return store, path


def test_a_store_written_before_the_chain_is_chained_once_from_its_first_event(
    tmp_path: Path
) -> None:
    store, _ = _pre_chain_store(tmp_path)
    ledger = bootstrap(Settings(store=store))
    upgrade = ledger.opened.recorder.chain_upgrade
    events = len(chained(Outcome(ledger, {})))
    assert upgrade is not None
    assert (upgrade.events, upgrade.original_from) == (events, events + 1)
    assert f"chain is original from position {events + 1}" in upgrade.message()
    report = audit(ledger)
    assert report.clean, report.problems
    assert report.chain is not None
    assert report.chain.original_from == events + 1
    ledger.close()
    again = bootstrap(Settings(store=store))
    assert again.opened.recorder.chain_upgrade is None
    again.close()


def test_a_log_that_lost_its_digests_but_kept_its_chain_row_is_not_chained_again(
    tmp_path: Path
) -> None:
    store, path = _pre_chain_store(tmp_path)
    bootstrap(Settings(store=store)).close()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE stored_events DROP COLUMN digest")
    db.close()
    with pytest.raises(StoreError, match="lost its digest column"):
        bootstrap(Settings(store=store))
    assert issubclass(ChainError, RuntimeError)


def test_a_published_digest_is_found_by_its_value_or_at_its_position(outcome: Outcome) -> None:
    opened = outcome.ledger.opened
    rows = chained(outcome)
    middle = rows[len(rows) // 2]
    for ref in (DigestRef(bytes(middle[5])), DigestRef(bytes(middle[5]), middle[0])):
        report = verify_chain(opened.recorder, opened.database, ref)
        assert report.intact, report.findings
        assert report.against_position == middle[0]


@pytest.mark.parametrize(("ref", "said"), [
    (DigestRef(bytes(32)), "is not in the chain"),
    (DigestRef(bytes(32), 10**9), "but the log ends at position"),
    (DigestRef(bytes(32), 3), "at position 3 the chain does not give the published digest"),
])
def test_a_published_digest_the_chain_does_not_reach_is_a_finding(
    outcome: Outcome, ref: DigestRef, said: str
) -> None:
    opened = outcome.ledger.opened
    report = verify_chain(opened.recorder, opened.database, ref)
    assert not report.intact
    assert [f.what for f in report.findings if said in f.what]
