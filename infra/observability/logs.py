"""Log set-up for every command: a level and a format (text, or one JSON object per line for
log shippers), from --log-level/--log-format or SMSLEDGER_LOG_LEVEL/SMSLEDGER_LOG_FORMAT."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from smsledger.consumers.journal import Batch
from smsledger.consumers.observer import ConsumerObserver

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
# The attributes every LogRecord has; any other attribute came in through `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Libraries log connection chatter below ERROR (kafka-python: each failed reconnect at
# ERROR too); they are shown from ERROR, each message once a minute, unless debugging.
_LIBRARIES = ("kafka", "eventsourcing", "psycopg")
REPEAT_SPAN_S = 60.0


def component(name: str) -> str:
    """The part of the program a logger belongs to: its module path inside the package."""
    return name.removeprefix("smsledger.")


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """What a call site added with `extra={...}` (partition, offset, batch size...)."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, component, message, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "component": component(record.name),
            "message": record.getMessage(),
            **fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """`time level component: message key=value ...` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        extra = " ".join(f"{k}={v}" for k, v in fields(record).items())
        line = (f"{stamp} {record.levelname.lower():<7} {component(record.name)}: "
                f"{record.getMessage()}" + (f" [{extra}]" if extra else ""))
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class LibraryRepeats(logging.Filter):
    """Lets a library's message template through once per `span` seconds: a broker that is
    away makes kafka-python log the same failure on every reconnect."""

    def __init__(self, span: float = REPEAT_SPAN_S) -> None:
        super().__init__()
        self.span = span
        self.last: dict[tuple[str, int, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("smsledger") or record.levelno <= logging.DEBUG:
            return True
        key = (record.name, record.levelno, str(record.msg))
        previous = self.last.get(key)
        if previous is not None and record.created - previous < self.span:
            return False
        self.last[key] = record.created
        return True


def configure_logging(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send every log record of `level` and above to `stream` (stderr) in `fmt`."""
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(LibraryRepeats())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for library in _LIBRARIES:
        logging.getLogger(library).setLevel("DEBUG" if level == "debug" else "ERROR")


class ConsumerLog(ConsumerObserver):
    """Log lines of the consumer's work: each batch (debug) and each dead letter (warning),
    with their partition, offset, batch size and duration as fields."""

    def __init__(self) -> None:
        self.log = logging.getLogger("smsledger.consumers.batches")

    def applied(self, consumer: Any, records: int, seconds: float) -> None:
        self.log.debug("batch applied", extra={"batch_size": records,
                                               "duration_s": round(seconds, 4)})

    def committed(self, consumer: Any, batch: Batch) -> None:
        for _, reason, detail, topic, partition, offset, _ in batch.dead_letters:
            self.log.warning("dead letter: %s", reason, extra={
                "topic": topic, "partition": partition, "offset": offset,
                "reason": reason, "detail": detail[:200]})
        if batch.offsets and self.log.isEnabledFor(logging.DEBUG):
            for (topic, partition), offset in sorted(batch.offsets.items()):
                self.log.debug("offset stored", extra={
                    "topic": topic, "partition": partition, "offset": offset})
