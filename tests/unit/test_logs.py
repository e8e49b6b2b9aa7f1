"""Log set-up: JSON lines with level, time, component and fields; text with the fields;
a library's repeated message shown once per span."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from smsledger.infra.observability.logs import LibraryRepeats, configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_level_time_component_message_and_fields() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    logging.getLogger("smsledger.consumers.batches").warning(
        "dead letter: %s", "bad_json", extra={"partition": 2, "offset": 17, "batch_size": 40})
    logging.getLogger("smsledger.x").debug("not shown at info")
    [line] = out.getvalue().splitlines()
    entry = orjson.loads(line)
    assert entry["level"] == "warning"
    assert entry["component"] == "consumers.batches"
    assert entry["message"] == "dead letter: bad_json"
    assert (entry["partition"], entry["offset"], entry["batch_size"]) == (2, 17, 40)
    assert entry["time"].endswith("Z")


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_show_the_fields_after_the_message() -> None:
    out = io.StringIO()
    configure_logging("debug", "text", out)
    logging.getLogger("smsledger.infra.kafka.health").info("assigned", extra={"partition": 1})
    assert out.getvalue().rstrip().endswith("info    infra.kafka.health: assigned [partition=1]")


def test_an_unknown_level_or_format_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="debug, info, warning, error"):
        configure_logging("loud", "text")
    with pytest.raises(ValueError, match="text, json"):
        configure_logging("info", "xml")


def test_a_library_message_repeats_once_per_span_ours_always() -> None:
    repeats = LibraryRepeats(span=60.0)

    def record(name: str, created: float) -> logging.LogRecord:
        made = logging.makeLogRecord({"name": name, "msg": "Connection failed: %s",
                                      "levelno": logging.ERROR})
        made.created = created
        return made

    seen = [repeats.filter(record("kafka.net", t)) for t in (0.0, 1.0, 30.0, 61.0)]
    assert seen == [True, False, False, True]
    assert all(repeats.filter(record("smsledger.infra", t)) for t in (0.0, 1.0))
