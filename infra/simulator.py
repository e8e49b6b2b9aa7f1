"""Seeded, streaming simulator of inbound traffic (DESIGN §2) for the demo, tests and bench."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from itertools import islice
from typing import IO, Any

import orjson

from smsledger.infra.sim_badinput import BadLines
from smsledger.infra.sim_customers import populate
from smsledger.infra.sim_world import DAY, World, tick

# Measured over seeds: the default mix yields about this many messages per account and day.
MESSAGES_PER_ACCOUNT_DAY = 17.8


@dataclass(frozen=True)
class SimulationConfig:
    """Knobs of the simulated traffic; every `*_share` is a probability in [0, 1]."""

    accounts: int = 200
    days: float = 1.0
    seed: int = 7
    start: datetime = datetime(2026, 6, 1, tzinfo=UTC)
    providers: tuple[str, ...] = ("smshub", "fivesim", "onlinesim")
    tick_seconds: int = 300
    window_seconds: int = 1200  # what customers expect; the engine's policy decides
    opening_span: float = 0.8  # accounts open during this leading fraction of the run
    eu_share: float = 0.3
    waiver_share: float = 0.3  # of EU customers, who also accept the waiver explicitly
    implicit_open_share: float = 0.03  # accounts opened by their first deposit only
    crypto_share: float = 0.2
    other_method_share: float = 0.05
    unavailable_share: float = 0.1
    silent_provider_share: float = 0.01  # neither a number nor a refusal
    no_sms_share: float = 0.15  # of issued numbers (busiest provider's rate is lower)
    incomplete_sms_share: float = 0.05
    overorder_share: float = 0.25  # of customers short of funds, who order anyway
    return_share: float = 0.3  # of customers ending a session, who come back later
    refund_share: float = 0.08  # of new customers, who ask for their first top-up back
    leftover_refund_share: float = 0.05  # of leaving customers, who ask for the rest back
    blocked_accounts: int = 2
    closed_accounts: int = 1
    bad_input_share: float = 0.0  # chance that a bad line follows a good one (lines only)

    def __post_init__(self) -> None:
        if self.accounts < 0 or self.blocked_accounts < 0 or self.closed_accounts < 0:
            raise ValueError("account counts must be >= 0")
        if self.days <= 0 or self.tick_seconds <= 0 or self.window_seconds <= 0:
            raise ValueError("days, tick_seconds and window_seconds must be > 0")
        if not self.providers:
            raise ValueError("at least one provider is needed")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith(("_share", "_span")) and not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} must be within [0, 1], got {value!r}")


def simulate(config: SimulationConfig) -> Iterator[dict[str, Any]]:
    """Inbound messages in non-decreasing `at` order; the same config gives the same messages."""
    world = World(config)
    populate(world)
    world.at(config.tick_seconds, tick)
    return world.run()


def simulate_lines(config: SimulationConfig) -> Iterator[bytes]:
    """The messages as newline-terminated JSON lines, with bad lines mixed in when asked."""
    option = orjson.OPT_APPEND_NEWLINE
    if config.bad_input_share <= 0.0:
        yield from (orjson.dumps(message, option=option) for message in simulate(config))
        return
    bad = BadLines(config.seed, config.bad_input_share)
    for message in simulate(config):
        line = orjson.dumps(message, option=option)
        yield line
        extra = bad.after(message, line)
        if extra is not None:
            yield extra


def with_account_keys(
    messages: Iterable[dict[str, Any]],
) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """Pair each message with its account, the Kafka key; provider messages name only the order."""
    owners: dict[str, str] = {}  # order and refund request ids -> account
    for message in messages:
        data = message["data"]
        account = data.get("account")
        if account is None:
            account = owners.get(data.get("order") or data.get("request") or "")
        elif message["type"] in ("order.requested", "refund.requested"):
            owners[data.get("order") or data["request"]] = account
        yield account, message


def config_for_size(n_messages: int, seed: int, **knobs: Any) -> SimulationConfig:
    """A one-day config sized to produce about `n_messages` messages."""
    ticks = DAY // SimulationConfig.tick_seconds
    accounts = max(1, round((n_messages - ticks) / MESSAGES_PER_ACCOUNT_DAY))
    return replace(SimulationConfig(accounts=accounts, seed=seed), **knobs)


def messages_for_size(n_messages: int, seed: int) -> list[dict[str, Any]]:
    """Exactly `n_messages` messages when the sized day yields enough, else all of them."""
    config = config_for_size(round(n_messages * 1.05), seed)
    return list(islice(simulate(config), n_messages))


def write_jsonl(
    messages: Iterable[dict[str, Any] | bytes], path_or_file: str | os.PathLike[str] | IO[bytes]
) -> int:
    """Write one JSON object per line (bytes are taken as ready lines); returns the line count."""
    if isinstance(path_or_file, str | os.PathLike):
        with open(path_or_file, "wb") as file:
            return _write(messages, file)
    return _write(messages, path_or_file)


def _write(messages: Iterable[dict[str, Any] | bytes], file: IO[bytes]) -> int:
    option, count = orjson.OPT_APPEND_NEWLINE, 0
    for message in messages:
        if isinstance(message, bytes):
            file.write(message if message.endswith(b"\n") else message + b"\n")
        else:
            file.write(orjson.dumps(message, option=option))
        count += 1
    return count
