"""The time series on a SQLite file and on PostgreSQL: the same rows for the same input, each
period the sum of its orders, deposits and refund requests, a rebuild equal to the catch-up;
and `query … --csv` as a user reads it."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines
from tests.scenario import Outcome, run
from tests.series_sums import money_from_views, order_series_from_orders, period_starts

SERIES = ("hourly", "daily", "daily-money")
SIMULATION = SimulationConfig(accounts=40, days=3.0, seed=5, closed_accounts=2)


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return list(simulate_lines(SIMULATION))


def series(outcome: Outcome) -> dict[str, list[dict[str, Any]]]:
    return {view: outcome.query(view) for view in SERIES}


def check_sums(outcome: Outcome) -> None:
    db = outcome.ledger.opened.database
    for view, field, step in (("hourly", "hour", timedelta(hours=1)),
                              ("daily", "day", timedelta(days=1))):
        rows = outcome.query(view)
        assert rows == order_series_from_orders(db, period_starts(rows, field), step, field)
    money = [row for row in outcome.query("daily-money") if row["flow"] != "forfeited"]
    assert money == money_from_views(db, period_starts(money, "day"))


@pytest.mark.postgres
def test_postgres_gives_the_series_of_sqlite_each_a_sum_over_its_period(
    tmp_path: Path, pg_url: str, lines: list[bytes]
) -> None:
    on_sqlite = run(lines, store=f"sqlite:///{tmp_path / 'ledger.db'}")
    on_postgres = run(lines, store=pg_url)
    try:
        expected = series(on_sqlite)
        assert len({row["day"] for row in expected["daily"]}) >= 3
        assert series(on_postgres) == expected
        check_sums(on_sqlite)
        check_sums(on_postgres)

        on_postgres.ledger.rebuild()
        assert series(on_postgres) == expected
    finally:
        on_sqlite.ledger.close()
        on_postgres.ledger.close()


def smsledger(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "smsledger.infra.cli", *args], cwd=cwd,
                          capture_output=True, timeout=120)


def test_query_writes_csv_of_its_json_fields_and_filters_by_time_and_group(
    tmp_path: Path, lines: list[bytes]
) -> None:
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    ingested = smsledger("ingest", "in.jsonl", "--quiet", "--store", store, cwd=tmp_path)
    assert ingested.returncode == 0
    every_day = orjson.loads(smsledger("query", "daily", "--json", "--store", store,
                                       cwd=tmp_path).stdout)
    provider = next(row["provider"] for row in every_day if row["provider"])

    args = ("--since", "2026-06-02", "--until", "2026-06-03", "--provider", provider)
    as_json = orjson.loads(smsledger("query", "daily", "--json", *args, "--store", store,
                                     cwd=tmp_path).stdout)
    as_csv = smsledger("query", "daily", "--csv", *args, "--store", store, cwd=tmp_path)

    assert as_json == [row for row in every_day
                       if row["day"] == "2026-06-02" and row["provider"] == provider]
    assert as_json
    read = list(csv.DictReader(io.StringIO(as_csv.stdout.decode())))
    assert read == [{k: "" if v is None else str(v) for k, v in row.items()} for row in as_json]


@pytest.mark.parametrize(("args", "message"), [
    (("query", "dead-letters", "--since", "2026-06-01"), "has no --since/--until filter"),
    (("query", "balances", "--provider", "p1"), "has no --provider/--service/--country"),
    (("query", "daily", "--until", "June"), "is not an RFC 3339 time or a date"),
])
def test_a_filter_the_view_lacks_is_a_usage_error(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = smsledger(*args, "--store", f"sqlite:///{tmp_path / 'l.db'}", cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr.decode()
    assert b"Traceback" not in done.stderr
