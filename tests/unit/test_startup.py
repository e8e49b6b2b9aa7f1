"""`smsledger --help` and a mistyped option load nothing that opens a store, decides or
talks to a broker: the command line starts in a fraction of the time the engine takes."""

from __future__ import annotations

import subprocess
import sys

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
    probe = PROBE.replace("build_parser()", "build_parser()\nimport smsledger.infra.bootstrap")
    done = subprocess.run([sys.executable, "-c", probe, *HEAVY], capture_output=True,
                          text=True, check=True)
    assert "eventsourcing" in done.stdout.split(",")
