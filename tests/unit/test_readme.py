"""The README's state diagram is the one python-statemachine renders from the machine."""

from __future__ import annotations

import re
from pathlib import Path

from statemachine.contrib.diagram import MermaidGraphMachine

from smsledger.domain.lifecycle import OrderLifecycle

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_state_diagram_is_generated_from_the_lifecycle() -> None:
    rendered = MermaidGraphMachine(OrderLifecycle).get_mermaid().rstrip()
    text = README.read_text()
    start = text.index("```mermaid\n") + len("```mermaid\n")
    end = text.index("\n```", start)
    assert text[start:end] == rendered


def _table_rows(first_cell: str) -> list[str]:
    return [line for line in README.read_text().splitlines()
            if line.startswith(f"| {first_cell} ") or line.startswith(f"| `{first_cell}` ")]


def test_readme_outcome_table_names_every_count_ingest_prints() -> None:
    from smsledger.consumers.engine import Counts

    spelled = {"duplicates": "duplicate", "dead_lettered": "dead-lettered"}
    for name in Counts().as_dict():
        assert _table_rows(spelled.get(name, name)), f"outcome {name} missing from the README"


def test_readme_balances_row_names_every_column_of_the_balances_table() -> None:
    from tests.scenario import Scenario, run

    scenario = Scenario()
    scenario.account("a1")
    outcome = run(scenario)
    try:
        columns = set(outcome.query("balances", extras=True)[0])
    finally:
        outcome.ledger.close()
    (row,) = _table_rows("balances")
    assert columns - set(re.findall(r"[a-z_]+", row)) == set()
