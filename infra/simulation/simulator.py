"""Seeded, streaming simulator of inbound traffic (DESIGN §2) for the demo, tests and bench."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import islice
from typing import IO, Any

import orjson

from smsledger.infra.simulation.badinput import BadLines
from smsledger.infra.simulation.config import SimulationConfig
from smsledger.infra.simulation.customers import populate
from smsledger.infra.simulation.world import DAY, World, tick

# Measured over seeds: the default mix yields about this many messages per account and day.
MESSAGES_PER_ACCOUNT_DAY = 17.8


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
