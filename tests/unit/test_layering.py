"""The layers import only what DESIGN §1 allows: `domain/` stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "domain": {"smsledger.domain", "eventsourcing", "statemachine"},
    "projections": {"smsledger.domain", "smsledger.projections", "eventsourcing", "orjson"},
    "consumers": {"smsledger.domain", "smsledger.projections", "smsledger.consumers",
                  "eventsourcing", "orjson", "kafka"},
}
STDLIB_IO = {"sqlite3", "socket", "subprocess", "os", "time", "random", "psycopg", "kafka"}


def imported_modules(layer: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / layer).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:  # relative: inside the same layer
                    module = f"smsledger.{layer}"
                found.append((path.name, module))
            elif isinstance(node, ast.Import):
                found.extend((path.name, alias.name) for alias in node.names)
    return found


def is_third_party_or_own(module: str) -> bool:
    top = module.split(".")[0]
    return top in {"smsledger", "eventsourcing", "statemachine", "orjson", "kafka", "psycopg"}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_what_it_may(layer: str) -> None:
    wrong = [
        (file, module) for file, module in imported_modules(layer)
        if is_third_party_or_own(module)
        and not any(module == a or module.startswith(a + ".") for a in ALLOWED[layer])
    ]
    assert wrong == []


def test_the_domain_does_no_io_and_reads_no_clock() -> None:
    modules = {module.split(".")[0] for _, module in imported_modules("domain")}
    assert modules.isdisjoint(STDLIB_IO)
    source = "\n".join(p.read_text() for p in (ROOT / "domain").glob("*.py"))
    assert "datetime.now" not in source
    assert "time.time" not in source
