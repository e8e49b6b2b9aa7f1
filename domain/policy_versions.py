"""Versions of a refund policy by effective date: which version is in force at an event time,
and whether a set of versions still agrees with the versions a store's decisions used.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime

from .policies import Policy


class PolicyFileError(ValueError):
    """A policy file, or a set of them, that cannot be used; the message names the file."""


@dataclass(frozen=True)
class PolicyVersion:
    """One version of a policy as read from its file."""

    policy: Policy
    clauses: Mapping[str, str]  # rule id -> the clause of the text it enforces, verbatim
    text: str  # the policy text the clauses quote (a file name)
    source: str  # where the file was read from, for messages
    content: str  # the file as read
    digest: str  # sha256 of the content

    @property
    def ref(self) -> str:
        return self.policy.ref


def digest_of(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def built_in(policy: Policy) -> PolicyVersion:
    """A version made in code (tests, the naive benchmark): its content is its parameters."""
    content = "\n".join(f"{f.name} = {getattr(policy, f.name)!r}" for f in fields(policy))
    return PolicyVersion(policy, {}, "", "<code>", content, digest_of(content))


def stamp(moment: datetime) -> str:
    """A fixed-width UTC time that sorts as text (microseconds always written), for storage."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def shown(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, for people."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if utc.microsecond else "%Y-%m-%dT%H:%M:%SZ")


class PolicyVersions:
    """One policy's versions, ordered by `effective_from`: a version is in force from its
    own effective date until the next version's. (A what-if replay splices two policies'
    versions; `name` is then the one it replays under.)"""

    def __init__(self, name: str, versions: Iterable[PolicyVersion]) -> None:
        ordered = sorted(versions, key=lambda v: v.policy.effective_from)
        if not ordered:
            raise PolicyFileError(f"policy {name!r} has no version")
        by_ref: dict[str, PolicyVersion] = {}
        for earlier, later in zip(ordered, ordered[1:], strict=False):
            if earlier.policy.effective_from == later.policy.effective_from:
                raise PolicyFileError(
                    f"{later.source}: {later.ref} takes effect at the same time as"
                    f" {earlier.ref} ({earlier.source}), {shown(later.policy.effective_from)}"
                )
        for version in ordered:
            if version.ref in by_ref:
                raise PolicyFileError(
                    f"{version.source}: version {version.ref} is also in"
                    f" {by_ref[version.ref].source}"
                )
            by_ref[version.ref] = version
        self.name = name
        self.versions = tuple(ordered)
        self._by_ref = by_ref
        self._starts = [v.policy.effective_from for v in ordered]

    @classmethod
    def of(cls, policy: Policy) -> PolicyVersions:
        return cls(policy.name, [built_in(policy)])

    def at(self, moment: datetime) -> Policy | None:
        """The version in force at `moment`: the latest effective at or before it."""
        index = bisect_right(self._starts, moment) - 1
        return self.versions[index].policy if index >= 0 else None

    def period(self, moment: datetime) -> tuple[datetime, datetime | None]:
        """From when until when (None: open-ended) the version in force at `moment` is."""
        index = bisect_right(self._starts, moment)
        start = self._starts[index - 1] if index > 0 else datetime.min.replace(tzinfo=UTC)
        return start, self._starts[index] if index < len(self._starts) else None

    def in_force(self, moment: datetime | None) -> Policy:
        """For what is computed against a clock (read models): the version in force, or the
        first one before any is."""
        found = self.at(moment) if moment is not None else None
        return found or self.versions[0].policy

    def version(self, ref: str) -> PolicyVersion | None:
        return self._by_ref.get(ref)

    @property
    def refs(self) -> list[str]:
        return [v.ref for v in self.versions]

    def with_policies(self, change: Callable[[Policy], Policy]) -> PolicyVersions:
        """The same versions with `change` applied to each one's parameters (an override
        from the settings, say); refs, clauses and digests stay."""
        return PolicyVersions(self.name, [
            PolicyVersion(change(v.policy), v.clauses, v.text, v.source, v.content, v.digest)
            for v in self.versions
        ])


class PolicySet:
    """Every known version of every policy, by name."""

    def __init__(self, versions: Iterable[PolicyVersion]) -> None:
        grouped: dict[str, list[PolicyVersion]] = {}
        for version in versions:
            grouped.setdefault(version.policy.name, []).append(version)
        self._policies = {name: PolicyVersions(name, found) for name, found in grouped.items()}

    @property
    def names(self) -> list[str]:
        return sorted(self._policies)

    def policy(self, name: str) -> PolicyVersions:
        try:
            return self._policies[name]
        except KeyError:
            known = ", ".join(self.names)
            raise ValueError(f"unknown policy {name!r}; known policies: {known}") from None

    def version(self, ref: str) -> PolicyVersion | None:
        name, _, _ = ref.partition("@")
        found = self._policies.get(name)
        return found.version(ref) if found is not None else None

    def __iter__(self) -> Iterator[PolicyVersions]:
        return iter(self._policies[name] for name in self.names)


@dataclass(frozen=True)
class UsedVersion:
    """A version a store's decisions used, as the store recorded it."""

    ref: str
    digest: str
    first_at: datetime  # the event times of the earliest and latest messages it decided
    last_at: datetime


def store_conflicts(versions: PolicyVersions, used: list[UsedVersion]) -> list[str]:
    """Why `versions` cannot decide for a store whose decisions used `used` (empty: it can).
    A version that decided is never changed or removed, and no version may take effect
    within the time a recorded version decided: it would contradict decisions taken. A
    version taking effect later can be added."""
    problems = []
    for record in used:
        current = versions.version(record.ref)
        if current is None:
            problems.append(
                f"policy version {record.ref} decided this store's messages (up to"
                f" {shown(record.last_at)}) but is not among the versions given"
                f" ({', '.join(versions.refs)})"
            )
        elif current.digest != record.digest:
            problems.append(
                f"policy version {record.ref} ({current.source}) was changed after it decided"
                f" this store's messages (recorded digest {record.digest[:12]}, now"
                f" {current.digest[:12]}): add a new version instead"
            )
        else:
            problems.extend(_overlaps(versions, record))
    return problems


def _overlaps(versions: PolicyVersions, record: UsedVersion) -> list[str]:
    """Versions that would now be in force at some time `record` decided."""
    in_force = versions.at(record.first_at)
    first = in_force.ref if in_force is not None else None
    intruders = [
        v for v in versions.versions if v.ref != record.ref
        and (v.ref == first or record.first_at < v.policy.effective_from <= record.last_at)
    ]
    return [
        f"policy version {v.ref} ({v.source}) takes effect at"
        f" {shown(v.policy.effective_from)}, within the time {record.ref} decided this"
        f" store's messages ({shown(record.first_at)} to {shown(record.last_at)}): it would"
        f" contradict decisions already taken; a version added to a store must take effect"
        f" after them"
        for v in intruders
    ]


def spliced(before: PolicyVersions, after: PolicyVersions, at: datetime) -> PolicyVersions:
    """`before`'s versions until `at`, then `after`'s: the version of `after` in force at
    `at` (or its first) decides from `at` on (a what-if replay from a time on)."""
    kept = [v for v in before.versions if v.policy.effective_from < at]
    first = after.at(at) or after.versions[0].policy
    starting = [
        replace(v, policy=replace(v.policy, effective_from=at))
        for v in after.versions if v.policy is first
    ]
    later = [v for v in after.versions if v.policy.effective_from > at]
    continuing = {(v.ref, v.digest) for v in kept[-1:]}  # the same version goes on in force
    return PolicyVersions(after.name, [
        *kept, *(v for v in [*starting, *later] if (v.ref, v.digest) not in continuing)
    ])
