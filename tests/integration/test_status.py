"""`smsledger status` on SQLite and PostgreSQL: positions and lag of the read models, journal
counts, the exit code of a health check, a hash chain's head when there is one, and the
consumer group's offsets against the broker's end offsets."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from smsledger.consumers.ingest import ingest_lines
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.cli.main import main
from smsledger.infra.settings import KafkaSettings, Settings
from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines
from smsledger.projections.queries import run_query
from tests.integration.kafka_support import prepared


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'status.db'}"
    return str(request.getfixturevalue("pg_url"))


def ingested_without_catching_up(store: str) -> None:
    lines = list(simulate_lines(SimulationConfig(accounts=15, bad_input_share=0.05)))
    ledger = bootstrap(Settings(store=store))
    try:
        ingest_lines(ledger.engine(), lines, source="status-test", batch_size=200)
    finally:
        ledger.close()


def status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["status", *args, "--json"])
    return code, orjson.loads(capsys.readouterr().out)


def test_status_reports_the_lag_and_fails_the_health_check_until_caught_up(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ingested_without_catching_up(store)
    code, behind = status(capsys, "--store", store, "--max-lag", "10")
    assert code == 1
    assert behind["healthy"] is False
    assert behind["log_position"] > 10
    assert behind["read_model_position"] == 0
    assert behind["read_model_lag"] == behind["log_position"]
    assert main(["project", "--store", store]) == 0
    capsys.readouterr()
    code, caught_up = status(capsys, "--store", store, "--max-lag", "10")
    assert code == 0
    assert caught_up["read_model_lag"] == 0
    assert caught_up["read_model_position"] == caught_up["log_position"]
    ledger = bootstrap(Settings(store=store))
    try:
        db = ledger.opened.database
        dead = len(run_query(db, "dead-letters"))
        rejected = len(run_query(db, "rejections"))
        watermark = ledger.opened.store.watermark()
    finally:
        ledger.close()
    assert caught_up["journal"]["dead_letters"] == dead > 0
    assert caught_up["journal"]["rejections"] == rejected
    assert watermark is not None
    assert caught_up["watermark"] == watermark.isoformat().replace("+00:00", "Z")
    assert caught_up["chain_head"]["position"] == caught_up["log_position"]


def test_status_shows_the_head_of_the_hash_chain_that_digest_prints(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ingested_without_catching_up(store)
    _, found = status(capsys, "--store", store)
    assert main(["digest", "--store", store, "--json"]) == 0
    head = orjson.loads(capsys.readouterr().out)
    assert found["chain_head"]["position"] == head["position"] > 0
    assert found["chain_head"]["digest"] == head["digest"]
    assert len(found["chain_head"]["digest"]) == 64


def test_status_text_says_healthy_or_how_far_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path / 'text.db'}"
    ingested_without_catching_up(store)
    assert main(["status", "--store", store, "--max-lag", "0"]) == 1
    text = capsys.readouterr().out
    assert "UNHEALTHY: read models" in text
    assert "more than --max-lag 0" in text


@pytest.mark.kafka
def test_status_compares_stored_offsets_with_the_brokers_end_offsets(
    kafka_settings: KafkaSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from smsledger.infra.kafka.runtime import consume

    lines, store = prepared(kafka_settings, tmp_path, "offsets", accounts=10, seed=3,
                            partitions=2)
    settings = Settings(store=store, kafka=kafka_settings)
    ledger = bootstrap(settings)
    try:
        consume(ledger, settings, stop_when_idle=3.0)
    finally:
        ledger.close()
    # The broker is shared with other tests: name this test's topics, as an operator's
    # environment would, so that only they are compared.
    for name in ("provider", "customer", "payments", "ledger"):
        monkeypatch.setenv(f"SMSLEDGER_TOPIC_{name.upper()}", getattr(kafka_settings.topics, name))
    code, found = status(capsys, "--store", store, "--bootstrap", kafka_settings.bootstrap,
                         "--group", kafka_settings.group_id)
    assert code == 0
    partitions = found["kafka"]["partitions"]
    assert len(partitions) == 6
    assert all(p["stored"] == p["end"] for p in partitions), partitions
    assert found["kafka"]["lag"] == 0
    stored = {(r["topic"], r["partition"]): r["next_offset"] for r in found["consumer_offsets"]}
    assert stored == {(p["topic"], p["partition"]): p["end"] for p in partitions}
