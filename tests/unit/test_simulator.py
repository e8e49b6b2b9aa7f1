"""The traffic simulator: deterministic, time-ordered, contract-shaped, and referentially sound."""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from smsledger.infra.simulation.simulator import (
    SimulationConfig,
    messages_for_size,
    simulate,
    simulate_lines,
    with_account_keys,
    write_jsonl,
)

# DESIGN §2: type -> (required data keys, optional data keys)
CONTRACT: dict[str, tuple[set[str], set[str]]] = {
    "account.opened": ({"account", "currency", "eu_consumer"}, set()),
    "waiver.accepted": ({"account"}, set()),
    "deposit.succeeded": ({"account", "deposit", "amount", "currency", "method"}, set()),
    "order.requested": ({"account", "order", "service", "country", "price"}, set()),
    "number.issued": ({"order", "provider", "phone", "activation"}, {"price"}),
    "number.unavailable": ({"order", "reason"}, set()),
    "sms.delivered": ({"order", "text"}, {"code"}),
    "order.another_sms_requested": ({"order", "account"}, set()),
    "order.completed": ({"order", "account"}, set()),
    "order.cancel_requested": ({"order", "account"}, {"reason"}),
    "order.wrong_code_reported": ({"order", "account"}, set()),
    "order.incomplete_sms_reported": ({"order", "account"}, set()),
    "refund.requested": ({"request", "account", "reason", "details_provided"}, {"amount"}),
    "refund.details_provided": ({"request"}, set()),
    "refund.paid": ({"request", "fee"}, set()),
    "account.blocked": ({"account", "reason"}, set()),
    "account.closed": ({"account"}, set()),
    "clock.tick": (set(), set()),
}
CUSTOMER_ORDER_TYPES = {t for t, (req, _) in CONTRACT.items() if {"order", "account"} <= req}
ID_PATTERNS = {
    "account": r"acc-\d{4,}",
    "order": r"ord-\d{6,}",
    "deposit": r"dep-\d{5,}",
    "request": r"rf-\d{4,}",
}
SMALL = SimulationConfig(accounts=40, days=0.5, seed=3)


@pytest.fixture(scope="module")
def day() -> list[dict[str, Any]]:
    return list(simulate(SimulationConfig()))


def _at(message: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(message["at"])


def test_same_seed_gives_the_same_messages() -> None:
    assert list(simulate(SMALL)) == list(simulate(SMALL))


def test_different_seeds_give_different_messages() -> None:
    other = SimulationConfig(accounts=40, days=0.5, seed=4)
    assert list(simulate(SMALL)) != list(simulate(other))


def test_simulate_streams_an_iterator() -> None:
    assert isinstance(simulate(SMALL), Iterator)


def test_at_is_utc_rfc3339_and_non_decreasing(day: list[dict[str, Any]]) -> None:
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", m["at"]) for m in day)
    times = [_at(m) for m in day]
    assert times == sorted(times)
    assert times[0] >= datetime(2026, 6, 1, tzinfo=UTC)
    assert times[-1] <= datetime(2026, 6, 2, tzinfo=UTC)


def test_start_moves_the_whole_run() -> None:
    start = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    messages = list(simulate(SimulationConfig(accounts=10, days=0.25, start=start)))
    assert min(_at(m) for m in messages) >= start
    assert max(_at(m) for m in messages) <= datetime(2026, 7, 15, 18, 0, tzinfo=UTC)


def test_message_ids_are_unique_and_numbered(day: list[dict[str, Any]]) -> None:
    ids = [m["id"] for m in day]
    assert len(set(ids)) == len(ids)
    assert ids[:2] == ["m-000001", "m-000002"]
    assert all(re.fullmatch(r"m-\d{6,}", i) for i in ids)


def test_every_message_has_the_contract_shape(day: list[dict[str, Any]]) -> None:
    for message in day:
        assert set(message) == {"id", "type", "at", "data"}
        required, optional = CONTRACT[message["type"]]
        keys = set(message["data"])
        assert required <= keys <= required | optional, message
        for key, pattern in ID_PATTERNS.items():
            if key in keys:
                assert re.fullmatch(pattern, message["data"][key]), message


def test_default_day_covers_the_message_types(day: list[dict[str, Any]]) -> None:
    types = {m["type"] for m in day}
    assert types >= {
        "account.opened",
        "deposit.succeeded",
        "order.requested",
        "number.issued",
        "number.unavailable",
        "sms.delivered",
        "order.completed",
        "order.cancel_requested",
        "order.wrong_code_reported",
        "order.another_sms_requested",
        "refund.requested",
        "refund.paid",
        "account.blocked",
        "clock.tick",
    }
    methods = {m["data"]["method"] for m in day if m["type"] == "deposit.succeeded"}
    assert {"card", "crypto"} <= methods


def test_default_day_has_the_rare_cases(day: list[dict[str, Any]]) -> None:
    incomplete = [m for m in day if m["type"] == "sms.delivered" and m["data"]["code"] is None]
    cheaper = [m for m in day if m["type"] == "number.issued" and "price" in m["data"]]
    used = [m for m in day if m["data"].get("reason") == "number_already_used"]
    assert incomplete
    assert cheaper
    assert used
    assert {m["data"]["reason"] for m in day if m["type"] == "number.unavailable"} == {
        "no_numbers",
        "service_unavailable",
        "provider_error",
    }


def test_amounts_are_non_negative_integers(day: list[dict[str, Any]]) -> None:
    for message in day:
        for key in ("amount", "price", "fee"):
            value = message["data"].get(key)
            if value is not None:
                assert type(value) is int, message
                assert value >= 0, message


def test_requested_prices_are_in_range_and_issued_never_above(day: list[dict[str, Any]]) -> None:
    requested: dict[str, int] = {}
    for message in day:
        data = message["data"]
        if message["type"] == "order.requested":
            assert 10 <= data["price"] <= 300
            requested[data["order"]] = data["price"]
        elif message["type"] == "number.issued" and "price" in data:
            assert data["price"] <= requested[data["order"]]


def test_order_messages_follow_their_request_and_name_its_owner(day: list[dict[str, Any]]) -> None:
    owner: dict[str, str] = {}
    for message in day:
        data = message["data"]
        if message["type"] == "order.requested":
            assert data["order"] not in owner
            owner[data["order"]] = data["account"]
        elif "order" in data:
            assert data["order"] in owner, message
        if message["type"] in CUSTOMER_ORDER_TYPES:
            assert owner[data["order"]] == data["account"], message


def test_account_and_refund_messages_follow_their_origin(day: list[dict[str, Any]]) -> None:
    accounts: set[str] = set()
    requests: set[str] = set()
    for message in day:
        data = message["data"]
        if message["type"] in ("account.opened", "deposit.succeeded"):
            accounts.add(data["account"])
        elif "account" in data:
            assert data["account"] in accounts, message
        if message["type"] == "refund.requested":
            requests.add(data["request"])
        elif "request" in data:
            assert data["request"] in requests, message


def test_blocked_and_closed_accounts_stop_sending(day: list[dict[str, Any]]) -> None:
    blocked = [m for m in day if m["type"] == "account.blocked"]
    closed = [m for m in day if m["type"] == "account.closed"]
    assert len(blocked) in (1, 2)
    assert len(closed) == 1
    assert {m["data"]["reason"] for m in blocked} == {"fraud"}
    gone: set[str] = set()
    for message in day:
        account = message["data"].get("account")
        if message["type"] in ("account.blocked", "account.closed"):
            gone.add(account)
        else:
            assert account not in gone, message


def test_every_non_tick_message_is_keyed_by_its_account(day: list[dict[str, Any]]) -> None:
    requests = [m["data"] for m in day if m["type"] == "order.requested"]
    owner = {data["order"]: data["account"] for data in requests}
    for account, message in with_account_keys(day):
        assert (account is None) == (message["type"] == "clock.tick"), message
        if "order" in message["data"]:
            assert account == owner[message["data"]["order"]]


def test_clock_ticks_every_five_minutes(day: list[dict[str, Any]]) -> None:
    ticks = [_at(m) for m in day if m["type"] == "clock.tick"]
    assert len(ticks) == 288
    assert all((b - a).total_seconds() == 300 for a, b in zip(ticks, ticks[1:], strict=False))
    assert all(m["data"] == {} for m in day if m["type"] == "clock.tick")


def test_messages_for_size_is_roughly_the_size() -> None:
    messages = messages_for_size(20_000, 1)
    assert 16_000 <= len(messages) <= 24_000
    assert len({m["id"] for m in messages}) == len(messages)


def test_lines_are_the_messages_when_no_bad_input_is_asked() -> None:
    lines = list(simulate_lines(SMALL))
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    assert [orjson.loads(line) for line in lines] == list(simulate(SMALL))


def _split(lines: list[bytes], good: list[dict[str, Any]]) -> list[bytes]:
    """The lines that are not the expected good messages, in order; asserts none is missing."""
    bad, expected = [], iter(good)
    want = next(expected, None)
    for line in lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            value = None
        if value is not None and value == want:
            want = next(expected, None)
        else:
            bad.append(line)
    assert want is None, "a good message went missing"
    return bad


def test_bad_lines_appear_only_when_asked_and_keep_the_good_ones() -> None:
    hostile = SimulationConfig(accounts=40, days=0.5, seed=3, bad_input_share=0.05)
    lines = list(simulate_lines(hostile))
    bad = _split(lines, list(simulate(SMALL)))
    assert 0.02 < len(bad) / len(lines) < 0.08
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in bad)
    assert _split(list(simulate_lines(SMALL)), list(simulate(SMALL))) == []


def _kind(line: bytes) -> str:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "malformed"
    if not isinstance(value, dict) or not {"id", "type", "at", "data"} <= set(value):
        return "missing"
    if not isinstance(value["type"], str) or value["type"] not in CONTRACT:
        return "unknown_type"
    data = value["data"]
    if isinstance(data, dict) and data.get("currency", "USD") != "USD":
        return "currency"
    amounts = [data.get(k) for k in ("amount", "price", "fee")] if isinstance(data, dict) else []
    if any(type(a) is int and (a < 0 or a > 10**12) for a in amounts):
        return "amount"
    return "other"


def test_bad_lines_cover_the_hostile_kinds() -> None:
    hostile = SimulationConfig(accounts=40, days=0.5, seed=3, bad_input_share=0.3)
    bad = _split(list(simulate_lines(hostile)), list(simulate(SMALL)))
    kinds = Counter(_kind(line) for line in bad)
    assert set(kinds) == {"malformed", "missing", "unknown_type", "currency", "amount", "other"}


def test_write_jsonl_to_a_path_and_a_file(tmp_path: Path) -> None:
    messages = list(simulate(SMALL))
    path = tmp_path / "day.jsonl"
    assert write_jsonl(messages, path) == len(messages)
    assert [orjson.loads(line) for line in path.read_bytes().splitlines()] == messages
    buffer = io.BytesIO()
    assert write_jsonl(simulate_lines(SMALL), buffer) == len(messages)
    assert buffer.getvalue() == path.read_bytes()


@pytest.mark.parametrize(
    "knobs",
    [{"accounts": -1}, {"days": 0}, {"tick_seconds": 0}, {"eu_share": 1.5}, {"providers": ()}],
)
def test_config_rejects_impossible_knobs(knobs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must|provider"):
        SimulationConfig(**knobs)
