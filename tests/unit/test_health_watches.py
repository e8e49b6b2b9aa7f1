"""The consumer member's watches, driven by a hand-moved clock: a lost broker is reported and
gives up after its timeout; a member without partitions stops only with --stop-when-idle."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from smsledger.infra.kafka.health import AssignmentWatch, BrokerWatch, MemberStopped
from smsledger.infra.settings import KafkaSettings

SETTINGS = replace(KafkaSettings(), broker_timeout_s=30.0, assignment_timeout_s=20.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Member:
    """What a watch sees of the consumer: its client, its engine, and stop()."""

    def __init__(self) -> None:
        self.consumer: Any = object()
        self.engine: Any = None
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


def run_for(watch: Any, member: Member, clock: Clock, seconds: float) -> None:
    end = clock.now + seconds
    while clock.now < end:
        clock.now += 0.5
        watch.turn(member)


def test_a_broker_gone_is_logged_within_seconds_and_gives_up_after_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, member, connections = Clock(), Member(), [1]
    watch = BrokerWatch(SETTINGS, clock, connections=lambda _: connections[0])
    run_for(watch, member, clock, 5)
    assert watch.may_idle()
    assert not caplog.records
    connections[0] = 0
    with caplog.at_level(logging.WARNING):
        run_for(watch, member, clock, 4)
    assert any("broker lost" in r.getMessage() for r in caplog.records)
    assert not watch.may_idle()  # no idling out while the broker is away
    assert not member.stopped
    run_for(watch, member, clock, 30)
    assert member.stopped
    assert isinstance(watch.failure, MemberStopped)
    assert "no broker reachable" in str(watch.failure)
    assert any("still unreachable" in r.getMessage() for r in caplog.records)


def test_a_broker_back_within_the_timeout_is_logged_and_nothing_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, member, connections = Clock(), Member(), [0]
    watch = BrokerWatch(SETTINGS, clock, connections=lambda _: connections[0])
    with caplog.at_level(logging.WARNING):
        run_for(watch, member, clock, 10)
        connections[0] = 2
        run_for(watch, member, clock, 60)
    assert caplog.records[-1].getMessage().startswith("broker reachable again")
    assert not member.stopped
    assert watch.failure is None
    assert watch.may_idle()


def test_a_single_reading_without_connections_is_not_a_lost_broker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, member, readings = Clock(), Member(), iter([0] + [1] * 100)
    watch = BrokerWatch(SETTINGS, clock, connections=lambda _: next(readings))
    with caplog.at_level(logging.WARNING):
        run_for(watch, member, clock, 20)
    assert caplog.records == []


def test_without_an_assignment_a_member_with_stop_when_idle_stops_after_the_timeout() -> None:
    clock, member = Clock(), Member()
    watch = AssignmentWatch(SETTINGS, stop_when_idle=3.0, clock=clock)
    run_for(watch, member, clock, 19)
    assert not member.stopped
    run_for(watch, member, clock, 2)
    assert member.stopped
    assert "no partitions assigned" in str(watch.failure)


def test_without_an_assignment_a_member_that_runs_for_good_only_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, member = Clock(), Member()
    watch = AssignmentWatch(SETTINGS, stop_when_idle=None, clock=clock)
    with caplog.at_level(logging.WARNING):
        run_for(watch, member, clock, 45)
    assert not member.stopped
    assert sum("no partitions assigned" in r.getMessage() for r in caplog.records) == 2


def test_an_assignment_ends_the_wait_and_a_revocation_starts_it_again() -> None:
    clock, member = Clock(), Member()
    watch = AssignmentWatch(SETTINGS, stop_when_idle=3.0, clock=clock)
    run_for(watch, member, clock, 15)
    watch.assigned(member, [])
    member.engine = object()
    run_for(watch, member, clock, 60)
    assert not member.stopped
    watch.revoked(member, [])
    member.engine = None
    run_for(watch, member, clock, 21)
    assert member.stopped
