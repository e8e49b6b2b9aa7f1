"""The read-model process beside an ingest or a consumer: restarted when it dies, the caller
told to stop when it keeps dying, and stopped within its grace when told to leave."""

from __future__ import annotations

import logging
import time
from multiprocessing.connection import Connection

import pytest

from smsledger.infra.alongside import RESTARTS, AlongsideProjector, ReadModelProcessFailed

pytestmark = pytest.mark.slow  # each child is a fresh interpreter


def exit_at_once(store: str, policy: str, stop: Connection, logging_: tuple[str, str]) -> None:
    raise SystemExit(3)


def ignore_the_pipe(store: str, policy: str, stop: Connection, logging_: tuple[str, str]
                    ) -> None:
    time.sleep(60)


def wait_for_exit(projector: AlongsideProjector) -> None:
    projector.child.join(timeout=30)
    assert projector.child.exitcode is not None


def test_a_dying_read_model_process_is_restarted_then_the_caller_is_told_to_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    projector = AlongsideProjector("sqlite:///unused.db", "sms-service", target=exit_at_once)
    projector.start()
    with caplog.at_level(logging.ERROR):
        for _ in range(RESTARTS):
            wait_for_exit(projector)
            projector.check()
        assert projector.restarts == RESTARTS
        wait_for_exit(projector)
        with pytest.raises(ReadModelProcessFailed, match="last exit code 3"):
            projector.check()
    assert sum("restarting" in r.getMessage() for r in caplog.records) == RESTARTS
    assert projector.stop() is None  # nothing left running


def test_a_child_that_does_not_leave_is_killed_after_the_grace() -> None:
    projector = AlongsideProjector("sqlite:///unused.db", "sms-service",
                                   target=ignore_the_pipe)
    projector.start()
    started = time.monotonic()
    code = projector.stop(grace=1.0)
    assert code == -9
    assert time.monotonic() - started < 20
