"""The journal's schema as analysts meet it in SQLite: the CLI's column names, one
fixed-width time form, JSON rule lists, documented column by column (the README equals the
declaration), and a store of layout 1 migrated on open with its rows read back the same."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings
from smsledger.infra.stores.journal_docs import JOURNAL_DOCS, journal_markdown
from smsledger.infra.stores.journal_tables import JOURNAL, JOURNAL_LAYOUT, time_columns
from tests.journal_layout1 import downgrade_statements
from tests.journal_scenario import (
    GROUP,
    journal_reads,
    journal_records,
    journal_scenario,
    journal_store,
)
from tests.scenario import Scenario

README = Path(__file__).resolve().parents[2] / "README.md"
FIXED_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
OLD_NAMES = {"message_id", "partition_no", "offset_no"}


def columns(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as db:
        return {t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")] for t in JOURNAL
                if db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (t,)).fetchone()}


def test_every_journal_column_is_documented_and_the_readme_says_the_same() -> None:
    for table, (declared, _) in JOURNAL.items():
        assert list(JOURNAL_DOCS[table][1]) == [name for name, _, _ in declared], table
    text = README.read_text()
    block = text.split("<!-- journal schema:", 1)[1].split("-->\n", 1)[1]
    assert block.split("<!-- /journal schema -->")[0] == journal_markdown()
    assert "keep their times as RFC 3339 text and their own column names" not in text


def test_the_columns_carry_the_clis_names(tmp_path: Path) -> None:
    ledger = journal_store(f"sqlite:///{tmp_path / 'j.db'}")
    reads = journal_reads(ledger)
    ledger.close()
    found = columns(tmp_path / "j.db")
    assert found == {t: [name for name, _, _ in declared] for t, (declared, _) in JOURNAL.items()}
    assert list(reads["rejections"][0]) == found["rejections"]
    assert set(reads["dead-letters"][0]) == set(found["dead_letters"]) - {"seq", "fingerprint"}
    assert not OLD_NAMES & {c for names in found.values() for c in names}


def test_every_time_is_fixed_width_text_and_rules_a_json_array(tmp_path: Path) -> None:
    ledger = journal_store(f"sqlite:///{tmp_path / 'j.db'}")
    db = ledger.opened.database
    try:
        seen = set()
        for table, column in time_columns():
            for (value,) in db.query(
                    f'SELECT "{column}" FROM {table} WHERE "{column}" IS NOT NULL'):
                assert FIXED_TIME.fullmatch(value), (table, column, value)
                seen.add(table)
        assert seen == {"rejections", "parked_messages", "deadlines", "ledger_clock",
                        "partition_clocks", "late_messages", "policy_versions"}
        rules = db.query("SELECT r.message, j.value FROM rejections r, json_each(r.rules) j")
        assert rules == [("m-000006", "order.sms_received")]
        # the query output keeps the RFC 3339 form it always had
        assert [r["at"] for r in journal_reads(ledger)["rejections"]] == [
            "2026-06-01T10:00:05Z", "2026-06-01T10:00:06.250000Z"]
    finally:
        ledger.close()


def test_analysts_group_journal_rows_by_time_in_sql(tmp_path: Path) -> None:
    ledger = journal_store(f"sqlite:///{tmp_path / 'j.db'}")
    db = ledger.opened.database
    try:
        by_hour = db.query("SELECT strftime('%Y-%m-%dT%H:00:00Z', at) AS hour, count(*)"
                           " FROM rejections GROUP BY hour")
        assert by_hour == [("2026-06-01T10:00:00Z", 2)]
        late = db.query("SELECT date(at), count(*) FROM late_messages GROUP BY 1")
        assert late == [("2026-06-01", 1)]
        plan = " ".join(str(r) for r in db.query(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM rejections WHERE at >= ?", ("2026",)))
        assert "rejections_by_time" in plan
    finally:
        ledger.close()


def downgraded_to_layout_1(path: Path) -> None:
    """The store's journal made as an smsledger of layout 1 made it."""
    with sqlite3.connect(path) as db:
        for statement in downgrade_statements("sqlite"):
            db.execute(statement)


def test_a_store_of_layout_1_is_migrated_on_open_and_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    ledger = journal_store(f"sqlite:///{path}")
    before = journal_reads(ledger)
    ledger.close()
    downgraded_to_layout_1(path)
    with sqlite3.connect(path) as old:
        assert OLD_NAMES <= set(columns(path)["dead_letters"])
        assert old.execute("SELECT at, rules FROM rejections ORDER BY at").fetchall() == [
            ("2026-06-01T10:00:05Z", "order.sms_received"),
            ("2026-06-01T10:00:06.250000Z", "")]
        assert old.execute("SELECT due FROM deadlines").fetchall() == [
            ("2026-06-01T10:51:01+00:00",)]

    ledger = bootstrap(Settings(store=f"sqlite:///{path}", policy="1001sms"))
    try:
        assert journal_reads(ledger) == before
        assert columns(path) == {t: [n for n, _, _ in d] for t, (d, _) in JOURNAL.items()}
        db = ledger.opened.database
        assert db.query("SELECT version FROM journal_layout") == [(JOURNAL_LAYOUT,)]
        assert db.query("SELECT due FROM deadlines") == [("2026-06-01T10:51:01.000000Z",)]
        assert db.query("SELECT rules FROM rejections ORDER BY at") == [
            ('["order.sms_received"]',), ("[]",)]
        # and the engine goes on: the same lines are duplicates, the parked SMS's order
        # arrives and takes it
        engine = ledger.engine(GROUP)
        engine.process(journal_records(journal_scenario()))
        later = Scenario(start=journal_scenario().start.replace(minute=40))
        later.order("o9", 10)
        later.issue("o9")
        for message in later.messages:
            message["id"] = message["id"].replace("m-", "later-")
        engine.process(journal_records(later, first=100))
        engine.commit()
        assert engine.counts.duplicates == len(journal_scenario().messages)
        assert ledger.opened.store.parked() == []
        assert ledger.opened.store.offsets(GROUP) == {("inbound", 0): 103}
    finally:
        ledger.close()
