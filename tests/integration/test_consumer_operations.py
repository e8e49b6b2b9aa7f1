"""A consumer member as an operator runs it, against a real Tansu broker: a lost broker, a
signal to the whole process group, a read-model process that dies, a group that never
assigns, and two or three members on one PostgreSQL schema."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from smsledger.infra.kafka.broker import LocalBroker
from smsledger.infra.kafka.clients import make_consumer
from smsledger.infra.kafka.topics import create_topics
from smsledger.infra.settings import KafkaSettings
from tests.integration.conftest import unique_topics
from tests.integration.kafka_support import (
    cli_env,
    prepared,
    reference,
    small_batches,
    views,
)
from tests.integration.test_kafka_consumer import processed_count, wait_until_processed

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


class Member:
    """`smsledger consume` in a session of its own, its stderr read line by line."""

    def __init__(self, store: str, kafka: KafkaSettings, *extra: str,
                 env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "smsledger.infra.cli", "consume", "--store", store, *extra],
            env={**cli_env(kafka), **(env or {})}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
        )
        self.lines: list[tuple[float, str]] = []
        assert self.process.stderr is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stderr,),
                                        daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))

    @property
    def stderr(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait_for_line(self, text: str, timeout: float) -> float:
        """When a stderr line containing `text` was read (fails after `timeout`)."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            for at, line in list(self.lines):
                if text in line:
                    return at
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} on stderr within {timeout} s:\n{self.stderr}")

    def finish(self, timeout: float) -> tuple[int, str]:
        """Exit code and stdout; fails if the member is still running after `timeout`."""
        try:
            self.process.wait(timeout=timeout)  # stdout: a summary line, it fits the pipe
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"consume still running after {timeout} s:\n{self.stderr}"
                                 ) from None
        self._reader.join(timeout=5)
        assert self.process.stdout is not None
        return self.process.returncode, self.process.stdout.read().decode()


def read_model_children(pid: int) -> list[int]:
    """The spawned read-model processes of `pid` (multiprocessing's own helpers aside)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def test_a_lost_broker_is_logged_within_seconds_and_the_member_exits_non_zero(
    tmp_path: Path,
) -> None:
    broker = LocalBroker().start()
    try:
        kafka = broker.kafka_settings(topics=unique_topics(), group_id="lost")
        lines, store = prepared(kafka, tmp_path, "lost", accounts=10, seed=2, partitions=2)
        member = Member(store, kafka, env={"SMSLEDGER_BROKER_TIMEOUT_S": "8"})
        wait_until_processed(member.process, store, len(lines))
    finally:
        broker.stop()
    gone = time.monotonic()
    logged = member.wait_for_line("broker lost", timeout=10)
    code, out = member.finish(timeout=60)
    assert logged - gone < 6
    assert code == 2
    assert "no broker reachable" in member.stderr.splitlines()[-1]
    assert "consumed" not in out  # no summary that reads like a clean end


@pytest.mark.parametrize("attempt", range(3))
def test_sigterm_to_the_process_group_ends_consume_within_seconds(
    kafka_settings: KafkaSettings, tmp_path: Path, attempt: int
) -> None:
    """As `timeout` and systemd do: the consumer and its read-model process get SIGTERM."""
    lines, store = prepared(kafka_settings, tmp_path, "group", accounts=40, seed=23 + attempt,
                            partitions=2)
    member = Member(store, small_batches(kafka_settings, 10))
    wait_until_processed(member.process, store, len(lines) // 4)
    assert read_model_children(member.process.pid), "no read-model process to signal"
    os.killpg(member.process.pid, signal.SIGTERM)
    code, out = member.finish(timeout=30)
    assert code == 0, member.stderr
    assert "consumed" in out
    assert "SIGTERM" in member.stderr
    assert processed_count(store) < len(lines) + 1  # stopped, not run to the end of time


def test_a_killed_read_model_process_is_restarted_and_the_views_are_complete(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    lines, store = prepared(kafka_settings, tmp_path, "restart", accounts=40, seed=29,
                            partitions=2)
    member = Member(store, small_batches(kafka_settings, 10), "--stop-when-idle", "4")
    wait_until_processed(member.process, store, len(lines) // 5)
    children = read_model_children(member.process.pid)
    assert len(children) == 1
    os.kill(children[0], signal.SIGKILL)
    member.wait_for_line("read-model process died, restarting it", timeout=15)
    code, _ = member.finish(timeout=180)
    assert code == 0, member.stderr
    assert views(store) == reference(lines)


def test_a_member_that_never_gets_an_assignment_stops_within_a_bounded_time(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """A member that joined and then stopped polling holds the group's rebalance for its
    whole (long) rebalance timeout: the new member's join does not complete."""
    create_topics(kafka_settings, partitions=2)
    holder = make_consumer(kafka_settings, max_poll_interval_ms=300_000,
                           session_timeout_ms=30_000, heartbeat_interval_ms=1000)
    try:
        holder.subscribe(list(kafka_settings.topics.inbound))
        until = time.monotonic() + 60
        while not holder.assignment():
            assert time.monotonic() < until, "the holder never joined"
            holder.poll(200)
        started = time.monotonic()
        member = Member(f"sqlite:///{tmp_path / 'stuck.db'}", kafka_settings,
                        "--stop-when-idle", "2", "--assignment-timeout", "5")
        code, out = member.finish(timeout=60)
        assert code == 2, member.stderr
        assert time.monotonic() - started < 45
        assert "no partitions assigned" in member.stderr.splitlines()[-1]
    finally:
        holder.close(autocommit=False, timeout_ms=2000)


@pytest.mark.postgres
@pytest.mark.parametrize("members", [2, 3])
def test_members_on_one_postgres_schema_end_cleanly_with_the_files_views(
    kafka_settings: KafkaSettings, tmp_path: Path, pg_url: str, members: int
) -> None:
    """Each member's read-model process folds the same schema: none may die (they did, in a
    deadlock of a fold with another's refresh of derived columns)."""
    lines, _ = prepared(kafka_settings, tmp_path, "pg", accounts=150, seed=31, partitions=6)
    kafka = small_batches(kafka_settings, 50)
    started = []
    for _ in range(members):
        started.append(Member(pg_url, kafka, "--stop-when-idle", "6"))
        time.sleep(1.0)
    for member in started:
        code, _ = member.finish(timeout=240)
        assert code == 0, member.stderr
        assert "read-model process" not in member.stderr
        assert "Traceback" not in member.stderr
    assert views(pg_url) == reference(lines)
