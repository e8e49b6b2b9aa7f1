"""`smsledger --help` and a mistyped option load nothing that opens a store, decides or
talks to a broker: the command line starts in a fraction of the time the engine takes."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

HEAVY = ("eventsourcing", "statemachine", "psycopg", "kafka", "starlette", "uvicorn",
         "prometheus_client", "jinja2")

PROBE = """
import sys
from smsledger.infra.cli.main import build_parser
build_parser()
heavy = sorted({name.split('.')[0] for name in sys.modules} & set(sys.argv[1:]))
print(','.join(heavy))
"""


def test_building_the_parser_imports_no_engine_store_or_broker_module() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, *HEAVY], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == ""


def test_the_probe_sees_a_heavy_module_once_a_command_needs_it() -> None:
    probe = PROBE.replace("build_parser()", "build_parser()\nimport smsledger.infra.stores.sqlite")
    done = subprocess.run([sys.executable, "-c", probe, *HEAVY], capture_output=True,
                          text=True, check=True)
    assert "eventsourcing" in done.stdout.strip().split(",")


# A read command run in-process on a caught-up store, then (last line) the domain modules
# it loaded.
READ_PROBE = """
import sys
from smsledger.infra.cli.main import main
code = main(sys.argv[1:])
loaded = sorted(name for name in sys.modules
                if name.startswith('smsledger.domain.') or name.split('.')[0] == 'statemachine')
print('loaded:', code, ','.join(loaded))
"""


@pytest.fixture(scope="module")
def caught_up_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("startup")
    lines = [
        {"id": "m1", "type": "account.opened", "at": "2026-06-01T00:00:00Z",
         "data": {"account": "a1", "currency": "USD", "eu_consumer": False}},
        {"id": "m2", "type": "deposit.succeeded", "at": "2026-06-01T00:00:01Z",
         "data": {"account": "a1", "deposit": "d1", "amount": 500, "currency": "USD",
                  "method": "card"}},
        {"id": "m3", "type": "order.requested", "at": "2026-06-01T00:00:02Z",
         "data": {"order": "o1", "account": "a1", "service": "wa", "country": "KZ",
                  "price": 40}},
    ]
    source = folder / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    url = f"sqlite:///{folder / 'ledger.db'}"
    subprocess.run([sys.executable, "-m", "smsledger.infra.cli.main", "ingest", str(source),
                    "--store", url], check=True, capture_output=True)
    return url


def _loaded_by(*argv: str) -> tuple[str, set[str]]:
    done = subprocess.run([sys.executable, "-c", READ_PROBE, *argv], capture_output=True,
                          text=True, check=True)
    last = done.stdout.strip().splitlines()[-1].removeprefix("loaded: ")
    code, _, loaded = last.partition(" ")
    return code, set(loaded.split(",")) - {""}


def test_a_query_of_a_caught_up_store_loads_no_aggregate_and_no_state_machine(
    caught_up_store: str,
) -> None:
    code, loaded = _loaded_by("query", "balances", "--store", caught_up_store, "--account", "a1")
    assert code == "0"
    assert not loaded & {"smsledger.domain.account", "smsledger.domain.order",
                         "smsledger.domain.refund", "statemachine"}


def test_an_accounts_history_loads_the_account_alone(caught_up_store: str) -> None:
    code, loaded = _loaded_by("history", "--store", caught_up_store, "a1")
    assert code == "0"
    assert "smsledger.domain.account" in loaded
    assert not loaded & {"smsledger.domain.order", "smsledger.domain.refund", "statemachine",
                         "smsledger.domain.decisions", "smsledger.projections.derived"}


def test_an_orders_history_loads_the_order_without_its_state_machine(
    caught_up_store: str,
) -> None:
    # Replaying an order runs only its events' `apply`; the lifecycle is consulted by the
    # decisions, which a history makes none of.
    code, loaded = _loaded_by("history", "--store", caught_up_store, "o1")
    assert code == "0"
    assert "smsledger.domain.order" in loaded
    assert not loaded & {"smsledger.domain.lifecycle", "statemachine",
                         "smsledger.domain.refund", "smsledger.projections.derived"}


def test_an_orders_decision_still_consults_the_lifecycle() -> None:
    probe = ("import sys; from smsledger.domain.order import Order; "
             "from smsledger.domain.ids import order_id; "
             "from datetime import datetime, UTC, timedelta; "
             "o = Order.request(id=order_id('o9'), order='o9', account='a1', service='s',"
             " country='NL', price=10, at=datetime(2026, 6, 1, tzinfo=UTC),"
             " window=timedelta(minutes=20), policy='p'); "
             "before = 'statemachine' in sys.modules; "
             "target = o.check('issue_number'); final = o.is_final; "
             "print(before, 'statemachine' in sys.modules, target, final)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "waiting_sms", "False"]
