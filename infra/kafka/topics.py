"""Creating and describing the inbound, dead-letter and ledger topics."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from smsledger.infra.kafka.clients import make_admin
from smsledger.infra.settings import KafkaSettings, Topics

_OK = 0


class TopicLayoutError(RuntimeError):
    """The topics exist but cannot be used as they are (missing, or not co-partitioned)."""


def topic_names(topics: Topics) -> list[str]:
    """Every topic smsledger uses: the inbound ones, their dead-letter topics, the ledger."""
    inbound = list(topics.inbound)
    return [*inbound, *(Topics.dead_letter(name) for name in inbound), topics.ledger]


def create_topics(settings: KafkaSettings, partitions: int, replication: int = 1) -> dict[str, int]:
    """Create the missing topics; return every topic's partition count.

    Idempotent. Existing inbound topics must already have `partitions` partitions:
    the consumer relies on the three being co-partitioned, so a mismatch raises
    before anything is created.
    """
    if partitions < 1 or replication < 1:
        raise ValueError(f"partitions ({partitions}) and replication ({replication}) must be >= 1")
    wanted = topic_names(settings.topics)
    admin = make_admin(settings)
    try:
        existing = _partition_counts(admin, wanted)
        check_inbound(settings.topics, existing, expected=partitions)
        missing = [name for name in wanted if name not in existing]
        if missing:
            _create(admin, missing, partitions, replication)
        counts = _partition_counts(admin, wanted)
    finally:
        admin.close()
    check_inbound(settings.topics, counts, expected=partitions)
    return counts


def describe_partitions(settings: KafkaSettings) -> dict[str, int]:
    """Partition count of each of smsledger's topics that exists."""
    admin = make_admin(settings)
    try:
        return _partition_counts(admin, topic_names(settings.topics))
    finally:
        admin.close()


def check_inbound(topics: Topics, counts: Mapping[str, int], expected: int | None = None) -> None:
    """Raise `TopicLayoutError` unless the existing inbound topics share one partition count.

    With `expected`, they must have exactly that many; missing topics are not checked.
    """
    found = {name: counts[name] for name in topics.inbound if name in counts}
    wanted = {expected} if expected is not None else set(found.values())
    if len(set(found.values()) | wanted) > 1:
        listing = ", ".join(f"{name}={count}" for name, count in found.items())
        hint = f"; {expected} requested" if expected is not None else ""
        raise TopicLayoutError(
            f"inbound topics must be co-partitioned (one partition count), found {listing}{hint}. "
            "Recreate them with equal counts, or request the count they already have."
        )


DEFAULT_PARTITIONS = 3


def ensure_topics(settings: KafkaSettings, partitions: int = DEFAULT_PARTITIONS) -> dict[str, int]:
    """Create whatever topic is missing, with the inbound topics' existing partition count
    if any exists (else `partitions`), so producing or consuming on a fresh broker works."""
    counts = describe_partitions(settings)
    check_inbound(settings.topics, counts)
    existing = {counts[name] for name in settings.topics.inbound if name in counts}
    return create_topics(settings, existing.pop() if existing else partitions)


def require_inbound(settings: KafkaSettings) -> dict[str, int]:
    """The inbound topics' partition counts; raise if one is missing or they differ."""
    counts = describe_partitions(settings)
    missing = [name for name in settings.topics.inbound if name not in counts]
    if missing:
        raise TopicLayoutError(
            f"topics {', '.join(missing)} do not exist at {settings.bootstrap}; "
            "create them first (infra.topics.create_topics)"
        )
    check_inbound(settings.topics, counts)
    return {name: counts[name] for name in settings.topics.inbound}


def _create(admin: KafkaAdminClient, names: list[str], partitions: int, replication: int) -> None:
    new = [NewTopic(name, partitions, replication) for name in names]
    response = admin.create_topics(new, raise_errors=False)
    for result in response["topics"]:
        code = result["error_code"]
        # Another process may have created it meanwhile: the recount checks it.
        if code not in (_OK, TopicAlreadyExistsError.errno):
            raise TopicLayoutError(
                f"cannot create topic {result['name']}: error {code} {result['error_message']}"
            )


def _partition_counts(admin: KafkaAdminClient, names: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for topic in admin.describe_topics(list(names)):
        code = topic["error_code"]
        if code == UnknownTopicOrPartitionError.errno:
            continue
        if code != _OK:
            raise TopicLayoutError(f"cannot describe topic {topic['name']}: error {code}")
        counts[topic["name"]] = len(topic["partitions"])
    return counts
