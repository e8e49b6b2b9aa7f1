"""Proofs for one customer and exports: what `prove` writes verifies against the published
digest without the store, and any edit of the document is found."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsledger.consumers.ingest import ingest_lines
from smsledger.domain import ids
from smsledger.infra.audit import log_reads
from smsledger.infra.audit.export import export_lines, verify_export
from smsledger.infra.audit.log_reads import ProofError
from smsledger.infra.audit.proof import prove, verify_proof
from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines
from smsledger.infra.stores.chain import DigestRef
from tests.scenario import Outcome, run


def traffic(seed: int, accounts: int = 6) -> list[bytes]:
    return list(simulate_lines(SimulationConfig(accounts=accounts, days=0.5, seed=seed)))


def published(outcome: Outcome) -> DigestRef:
    head = log_reads.head(outcome.ledger.opened.database, outcome.ledger.opened.recorder)
    return DigestRef(head.digest, head.position)


def proof_of(outcome: Outcome, account: str, ref: DigestRef | None = None) -> dict[str, Any]:
    opened = outcome.ledger.opened
    return prove(opened.database, opened.recorder, account, ref)


@pytest.fixture(scope="module")
def outcome() -> Outcome:
    return run(traffic(seed=4, accounts=10))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), pick=st.integers(0, 1_000))
def test_a_proof_of_any_account_verifies_and_derives_its_balance(seed: int, pick: int) -> None:
    outcome = run(traffic(seed))
    balances = outcome.query("balances")
    row = balances[pick % len(balances)]
    document = orjson.loads(orjson.dumps(proof_of(outcome, row["account"])))  # as a file
    verdict = verify_proof(document, published(outcome))
    assert verdict.verified, verdict.problems
    assert {k: v for k, v in document["derived"].items() if k != "status"} == {
        k: v for k, v in row.items() if k != "account"}
    stored = outcome.ledger.opened.app.events.get(ids.account_id(row["account"]))
    assert document["events"] == len(list(stored))
    outcome.ledger.close()


def _first_event(doc: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in doc["links"] if "state" in e)


def _edit_amount(doc: dict[str, Any]) -> None:
    event = next(e for e in doc["links"] if e.get("topic", "").endswith("Deposited"))
    state = orjson.loads(event["state"])
    state["amount"] += 1
    event["state"] = orjson.dumps(state).decode()


def _drop_event(doc: dict[str, Any]) -> None:
    doc["links"].remove([e for e in doc["links"] if "state" in e][-1])


def _swap_events(doc: dict[str, Any]) -> None:
    events = [i for i, e in enumerate(doc["links"]) if "state" in e]
    a, b = events[-2], events[-1]
    doc["links"][a], doc["links"][b] = doc["links"][b], doc["links"][a]


def _alter_leaf(doc: dict[str, Any]) -> None:
    run_ = next(e for e in doc["links"] if "skip" in e)
    leaves = bytearray(base64.b64decode(run_["leaves"]))
    leaves[0] ^= 1
    run_["leaves"] = base64.b64encode(bytes(leaves)).decode()


def _claim_more(doc: dict[str, Any]) -> None:
    doc["derived"]["available"] += 100


def _other_account(doc: dict[str, Any]) -> None:
    doc["account"] = doc["account"] + "x"


def _renumber(doc: dict[str, Any]) -> None:
    _first_event(doc)["version"] = 2


TAMPERED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "amount edited": (_edit_amount, "do not lead to the digest"),
    "event removed": (_drop_event, "do not lead to the digest"),
    "events reordered": (_swap_events, "do not lead to the digest"),
    "another event's leaf altered": (_alter_leaf, "do not lead to the digest"),
    "balance claimed": (_claim_more, "the balance stated is not the one the events derive"),
    "account renamed": (_other_account, "do not lead to the digest"),
    "version renumbered": (_renumber, "do not lead to the digest"),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERED))
def test_an_edited_proof_fails_verification(outcome: Outcome, tampering: str) -> None:
    account = outcome.query("balances")[0]["account"]
    document = orjson.loads(orjson.dumps(proof_of(outcome, account)))
    edit, expected = TAMPERED[tampering]
    altered = copy.deepcopy(document)
    edit(altered)
    verdict = verify_proof(altered, published(outcome))
    assert not verdict.verified
    assert any(expected in problem for problem in verdict.problems), verdict.problems


def test_a_proof_checked_against_another_digest_fails(outcome: Outcome) -> None:
    account = outcome.query("balances")[0]["account"]
    verdict = verify_proof(proof_of(outcome, account), DigestRef(bytes(32)))
    assert any("not to the published digest" in p for p in verdict.problems)


def test_a_malformed_proof_is_reported_not_raised(outcome: Outcome) -> None:
    verdict = verify_proof({"format": "smsledger-account-proof/1"}, published(outcome))
    assert verdict.problems
    assert "malformed" in verdict.problems[0]


def test_a_proof_connects_to_an_older_published_digest() -> None:
    lines = traffic(seed=9)
    outcome = run(lines[: len(lines) // 2])
    earlier = published(outcome)
    balances_then = {r["account"]: r for r in outcome.query("balances")}
    ingest_lines(outcome.ledger.engine(), lines[len(lines) // 2:], source="rest")
    assert published(outcome) != earlier
    account = sorted(balances_then)[0]
    document = proof_of(outcome, account, earlier)
    assert verify_proof(document, earlier).verified
    assert document["derived"]["deposited"] == balances_then[account]["deposited"]
    assert not verify_proof(document, published(outcome)).verified


def test_an_account_not_in_the_log_cannot_be_proved(outcome: Outcome) -> None:
    with pytest.raises(ProofError, match="no account 'nobody'"):
        proof_of(outcome, "nobody")


def test_an_export_from_any_position_verifies_and_an_edit_is_found(outcome: Outcome) -> None:
    opened = outcome.ledger.opened
    ref = published(outcome)
    for since in (0, 17, (ref.position or 0) - 1):
        lines = list(export_lines(opened.database, opened.recorder, since))
        assert len(lines) == (ref.position or 0) - since + 1
        assert verify_export(lines, ref).verified
    lines = list(export_lines(opened.database, opened.recorder, 0))
    event = orjson.loads(lines[3])
    event["version"] += 1
    lines[3] = orjson.dumps(event)
    verdict = verify_export(lines, ref)
    assert any(f"position {event['position']}" in p for p in verdict.problems)
    assert any("is not reached" in p for p in verdict.problems)
