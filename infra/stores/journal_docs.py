"""What every journal table and column holds, in words: the README's journal schema and
PostgreSQL's `COMMENT ON` are made from these (a test keeps the README equal to them)."""

from __future__ import annotations

from smsledger.infra.stores.journal_tables import JOURNAL, JOURNAL_TYPES
from smsledger.projections.schema_docs import table_comments, table_markdown

_MESSAGE = "message id (the inbound line's `id`)"
_ORIGIN = {"source": "topic or file the line came from (`-`: standard input)",
           "partition": "Kafka partition (NULL for a file)",
           "offset": "Kafka offset, or the line's number in its file"}

JOURNAL_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "processed_messages": ("One row per message id processed: what became of it.", {
        "message": f"{_MESSAGE}; key", "type": "message type (`order.requested`; empty for a"
        " line that was dead-lettered)", "outcome": "applied, ignored, rejected or"
        " dead_lettered", "reason": "why it was ignored, rejected or dead-lettered",
        "digest": "digest of the line's bytes: tells a redelivery from another message under"
        " the same id (NULL in stores written before digests were kept)",
    }),
    "rejections": ("One row per rejected message (`query rejections`).", {
        "message": f"{_MESSAGE}; key", "type": "message type", "at": "the message's event time",
        "account": "external account id", "subject": "order, request or deposit id it named",
        "reason": "the refusal (`insufficient_funds`, …)", "detail": "the refusal in words",
        "rules": "JSON array of the rule ids behind the refusal",
    }),
    "dead_letters": ("One row per line that could not be processed, with its bytes"
                     " (`query dead-letters`).", {
        "seq": "order stored; key", "message": "message id, when the line had a readable one",
        "reason": "why (`malformed_json`, `unknown_account`, …)", "detail": "why, in words",
        **_ORIGIN, "raw": "the line's bytes, as received",
        "fingerprint": "SHA-256 of the id (or the origin) and the bytes: a line is kept once",
    }),
    "parked_messages": ("Messages waiting for the message they refer to (an order, an"
                        " account opening, a refund request).", {
        "message": f"{_MESSAGE}; key", "kind": "what it waits for: order, request or account",
        "subject": "id of what it waits for", "at": "the message's event time", **_ORIGIN,
        "raw": "the line's bytes",
    }),
    "deadlines": ("The next deadline of each open order and refund request.", {
        "aggregate_id": "order or refund aggregate id (hex); key", "kind": "order or request",
        "due": "when it falls due (event time)", "account": "external account id",
    }),
    "consumer_offsets": ("The next offset of each Kafka partition, stored with the ledger.", {
        "consumer_group": "consumer group", "topic": "topic", "partition": "partition",
        "next_offset": "next offset to read (`status` prints these rows as they are, and"
                       " compares them with the broker's end offsets as `stored`)",
    }),
    "ledger_clock": ("The ledger's event-time clock (one row).", {
        "id": "1; key", "watermark": "the latest event time processed",
        "policy": "policy the store runs",
    }),
    "partition_clocks": ("Each partition's time.", {
        "consumer_group": "consumer group", "partition": "partition (-1: a single writer's)",
        "clock": "the partition's clock (its latest clock.tick, or the wall clock it followed"
        " once caught up)", "latest": "latest event time processed on it",
    }),
    "late_messages": ("Messages applied more than the allowed lateness behind their"
                      " partition's clock.", {
        "message": f"{_MESSAGE}; key", "at": "the message's event time",
        "clock": "the partition's clock when it came", **_ORIGIN,
    }),
    "policy_versions": ("The policy versions decisions used, as their files were then.", {
        "ref": "`name@version`; key", "name": "policy name", "version": "policy version",
        "effective_from": "when the version comes into force",
        "digest": "digest of the file's content", "content": "the file's content",
        "first_at": "earliest event time it decided", "last_at": "latest event time it decided",
    }),
    "policy_dir": ("The policy directory the store was last given (one row).", {
        "id": "1; key", "path": "the directory"}),
    "inbound_log": ("Every line processed that was not a duplicate, in order, and the"
                    " points where the clock moved without a message or an input ended:"
                    " what a what-if replay reads.", {
        "seq": "order processed; key", "kind": "messages, clock, over or end",
        "at": "the clock's time (kind clock)", "lines": "lines in the row (kind messages)",
        "raw": "the lines, each prefixed by its length in 4 bytes (kind messages)",
    }),
    "journal_layout": ("The journal's layout (one row).", {
        "id": "1; key", "version": "layout number"}),
}


def journal_comment_statements() -> list[str]:
    """PostgreSQL's COMMENT ON for every journal table and column."""
    return [statement for table, (doc, columns) in JOURNAL_DOCS.items()
            for statement in table_comments("TABLE", table, doc, columns)]


def journal_markdown() -> str:
    """The README's column-by-column tables of the journal (types as SQLite / PostgreSQL)."""
    lines = []
    for table, (doc, columns) in JOURNAL_DOCS.items():
        lines += table_markdown(table, doc, [
            (name, _type("sqlite", kind), _type("postgres", kind), columns[name])
            for name, kind, _ in JOURNAL[table][0]])
    return "\n".join(lines)


def _type(dialect: str, kind: str) -> str:
    return JOURNAL_TYPES[dialect][kind].split(" PRIMARY")[0].lower()
