"""The command line's output, byte for byte, against golden files in tests/golden/: the help
of every command and the read commands on a small seeded workload ingested into SQLite.

A change of output is then a deliberate one: regenerate with
`SMSLEDGER_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/integration/test_cli_golden.py`
and review the diff of tests/golden/ before committing it.

Each command runs as a user runs it, one subprocess with its output piped: tables are not cut
to a terminal and progress is not drawn. COLUMNS is fixed, since argparse wraps help to it. No
command here prints a wall-clock time, a duration or a path: `audit` reports none, `digest`'s
time is the head event's (event time), and the input is named relative to the working
directory. The help's layout is argparse's and differs between Python versions (3.13 changed
it), so the help cases run only on the version that recorded them (tests/golden/help/PYTHON).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines, write_jsonl

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("SMSLEDGER_UPDATE_GOLDEN") == "1"
CLI = [sys.executable, "-m", "smsledger.infra.cli"]
VIEWS = ("balances", "orders", "refunds", "deposits", "dead-letters", "rejections", "stats")
# Half a day of 12 accounts with hostile lines mixed in: every view has rows, refunds are
# approved and rejected, orders end in every outcome.
WORKLOAD = SimulationConfig(accounts=12, days=0.5, seed=3, bad_input_share=0.03)
INPUT = "traffic.jsonl"
STORE = "sqlite:///ledger.db"


def env() -> dict[str, str]:
    """The caller's environment without settings that change output: SMSLEDGER_* (flags say
    everything), terminal size and colour."""
    dropped = ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "PYTHON_COLORS")
    kept = {k: v for k, v in os.environ.items()
            if not k.startswith("SMSLEDGER_") and k not in dropped}
    return {**kept, "COLUMNS": "80"}


def run(*args: str, cwd: Path) -> bytes:
    done = subprocess.run([*CLI, *args], cwd=cwd, env=env(), capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 0, f"smsledger {' '.join(args)}: {done.stderr.decode()}"
    return done.stdout


def check(name: str, output: bytes) -> None:
    """`output` equals the golden file `name`, or becomes it when regenerating."""
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(output)
        return
    assert path.exists(), (f"no golden file {name}: run with SMSLEDGER_UPDATE_GOLDEN=1 to"
                           " record it")
    expected = path.read_bytes()
    if output != expected:
        pytest.fail(f"smsledger output differs from tests/golden/{name}; if the change is"
                    f" meant, regenerate with SMSLEDGER_UPDATE_GOLDEN=1.\n--- expected\n"
                    f"{expected.decode(errors='replace')}\n--- got\n"
                    f"{output.decode(errors='replace')}", pytrace=False)


# --- help ------------------------------------------------------------------------------


def commands() -> list[str]:
    """The subcommands `smsledger --help` lists."""
    shown = subprocess.run([*CLI, "--help"], env=env(), capture_output=True, timeout=60)
    choices = re.search(rb"\{([a-z,-]+)\}", shown.stdout)
    assert choices is not None, shown.stdout
    return choices.group(1).decode().split(",")


HELP_CASES = [["--help"], ["--version"], *([name, "--help"] for name in commands())]
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}\n"


def help_name(args: list[str]) -> str:
    return "help/" + {"--help": "smsledger", "--version": "version"}.get(args[0], args[0]) + ".txt"


@pytest.fixture(scope="module")
def help_python() -> None:
    path = GOLDEN / "help" / "PYTHON"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PYTHON)
    elif path.exists() and path.read_text() != PYTHON:
        pytest.skip(f"the help was recorded with Python {path.read_text().strip()}, whose"
                    " argparse lays it out otherwise")


@pytest.mark.usefixtures("help_python")
@pytest.mark.parametrize("args", HELP_CASES, ids=" ".join)
def test_help_is_unchanged(args: list[str], tmp_path: Path) -> None:
    check(help_name(args), run(*args, cwd=tmp_path))


# --- the read commands on an ingested workload ---------------------------------------------


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """The workload ingested once: the working directory and the summary printed."""
    path = tmp_path_factory.mktemp("golden")
    write_jsonl(simulate_lines(WORKLOAD), path / INPUT)
    return path, run("ingest", INPUT, "--store", STORE, "--quiet", cwd=path)


@pytest.fixture(scope="module")
def workdir(ingested: tuple[Path, bytes]) -> Path:
    return ingested[0]


def test_ingest_summary_is_unchanged(ingested: tuple[Path, bytes]) -> None:
    check("ledger/ingest.txt", ingested[1])


def rows(view: str, cwd: Path) -> list[dict[str, object]]:
    found = orjson.loads(run("query", view, "--json", "--store", STORE, cwd=cwd))
    assert isinstance(found, list)
    return found


@pytest.fixture(scope="module")
def subjects(workdir: Path) -> dict[str, str]:
    """The order and refund request to look into: the first refunded order (it went through
    the after-sale rules) and the first refund a customer asked for (not a closure's)."""
    orders = [r["order"] for r in rows("orders", workdir) if r["state"] == "refunded"]
    requests = [r["request"] for r in rows("refunds", workdir)
                if not str(r["request"]).startswith("closure:")]
    assert orders, "the workload has no refunded order"
    assert requests, "the workload has no refund request"
    return {"order": str(orders[0]), "request": str(requests[0])}


QUERY_CASES = [(f"ledger/query-{view}{'.json' if json else '.txt'}",
                ["query", view, *(["--json"] if json else [])])
               for view in VIEWS for json in (False, True)]
OTHER_CASES = [
    ("ledger/digest.txt", ["digest"]),
    ("ledger/digest.json", ["digest", "--json"]),
    ("ledger/audit.txt", ["audit"]),
    ("ledger/audit.json", ["audit", "--json"]),
    ("ledger/history-order.txt", ["history", "{order}"]),
    ("ledger/history-order.json", ["history", "{order}", "--json"]),
    ("ledger/explain-order.txt", ["explain", "{order}"]),
    ("ledger/explain-order.json", ["explain", "{order}", "--json"]),
    ("ledger/explain-request.txt", ["explain", "{request}"]),
    ("ledger/explain-request.json", ["explain", "{request}", "--json"]),
]
READ_CASES = QUERY_CASES + OTHER_CASES


@pytest.mark.parametrize(("name", "args"), READ_CASES, ids=[n for n, _ in READ_CASES])
def test_read_output_is_unchanged(name: str, args: list[str], workdir: Path,
                                  subjects: dict[str, str]) -> None:
    filled = [a.format(**subjects) for a in args]
    check(name, run(*filled, "--store", STORE, cwd=workdir))


def test_every_golden_file_belongs_to_a_case() -> None:
    """A golden file no case checks any more is stale (deleted when regenerating)."""
    known = {help_name(a) for a in HELP_CASES} | {n for n, _ in READ_CASES}
    known |= {"ledger/ingest.txt", "help/PYTHON"}
    stale = sorted(str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*")
                   if p.is_file() and str(p.relative_to(GOLDEN)) not in known)
    if UPDATE:
        for name in stale:
            (GOLDEN / name).unlink()
        return
    assert stale == []
