"""The naive baseline the benchmark compares against: what a first version on the library
would do — one `Application.save()` per message, the library's JSON transcoder, every
aggregate read from the store each time, projections caught up after every message."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from smsledger.consumers.engine import Engine
from smsledger.consumers.journal import Batch, Inbound
from smsledger.domain.policies import Policy
from smsledger.infra.stores.application import EventStore
from smsledger.infra.stores.sqlite import SQLiteLedgerRecorder
from smsledger.infra.stores.sqlite_database import SQLiteDatabase
from smsledger.projections import runner
from smsledger.projections.runner import LedgerClock


class NaiveApplication(Application[UUID]):
    """The library's defaults: JSON transcoder with its UUID and datetime transcodings."""

    name = "smsledger"


class NaiveStore(EventStore):
    """No cache, no bulk reads: each lookup replays the aggregate from the database."""

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        try:
            return self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def prefetch(self, aggregate_ids: list[UUID]) -> None:
        return None

    def commit(self, batch: Batch) -> None:
        self.app.save(*batch.aggregates.values(), journal=batch)


def naive_ingest(path: str, lines: list[bytes], policy: Policy) -> Any:
    """Ingest `lines` the naive way into the SQLite file at `path`; returns the ledger parts."""
    app = NaiveApplication(env={
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path,
        "APPLICATION_RECORDER_TOPIC": get_topic(SQLiteLedgerRecorder),
    })
    database = SQLiteDatabase(app.factory.datastore)  # type: ignore[attr-defined]
    store = NaiveStore(app, database)
    runner.create_tables(database)
    engine = Engine(store, policy)
    read = app.recorder.select_stored_after  # type: ignore[attr-defined]
    transcoder = app.mapper.transcoder

    def decode(state: bytes) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else v
                for k, v in transcoder.decode(state).items()}

    def project() -> None:
        runner.catch_up(database, read, LedgerClock(store.watermark(), policy), decode=decode)

    for number, line in enumerate(lines, start=1):
        engine.process([Inbound(line, "bench", None, number)])
        engine.commit()
        project()
    engine.end_of_input()
    engine.commit()
    project()
    return app, database
