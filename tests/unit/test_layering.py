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


def module_graph() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports, at any depth of
    the file (a lazy import inside a function is an import all the same)."""
    modules: dict[str, Path] = {}
    for layer in ("domain", "projections", "consumers", "infra"):
        for path in (ROOT / layer).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules["smsledger." + ".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            targets.update(c for c in candidates if c in modules and c != name)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_modules_import_each_other_even_lazily() -> None:
    graph = module_graph()
    assert len(graph) > 60  # the walk found the package
    assert cycles(graph) == []


def test_a_cycle_is_found_where_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# What each part of infra/ may import of infra/ (its own modules aside), as its
# __init__ says; the stores and the simulator stand below everything else.
INFRA_MAY_IMPORT = {
    "simulation": set(),
    "stores": {"settings"},
    "audit": {"stores", "bootstrap", "settings"},
    "kafka": {"settings", "bootstrap", "alongside", "stores", "observability"},
    "observability": {"settings"},
    "bench": {"settings", "bootstrap", "alongside", "stores", "kafka", "simulation", "audit",
              "cli.render"},
    "web": {"settings", "bootstrap", "stores", "cli.history"},
}
# Modules of the command line that other parts use: the benchmark prints its tables with
# its renderer, the web view shows histories with its history.
CLI_SHARED = {"smsledger.infra.cli.render", "smsledger.infra.cli.history"}


@pytest.mark.parametrize("part", sorted(INFRA_MAY_IMPORT))
def test_an_infra_part_imports_only_what_its_docstring_allows(part: str) -> None:
    prefix = f"smsledger.infra.{part}"
    allowed = {f"smsledger.infra.{a}" for a in INFRA_MAY_IMPORT[part]} | {prefix}
    wrong = sorted(
        (module, target)
        for module, targets in module_graph().items()
        if module == prefix or module.startswith(prefix + ".")
        for target in targets
        if target.startswith("smsledger.infra")
        and not any(target == a or target.startswith(a + ".") for a in allowed)
    )
    assert wrong == []


def test_nothing_but_the_console_entry_imports_the_command_line() -> None:
    importers = sorted(
        module for module, targets in module_graph().items()
        if any(t.startswith("smsledger.infra.cli") and t not in CLI_SHARED for t in targets)
        and not module.startswith("smsledger.infra.cli")
    )
    assert importers == []
