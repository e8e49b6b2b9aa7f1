"""The README's state diagram is the one python-statemachine renders from the machine."""

from __future__ import annotations

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
