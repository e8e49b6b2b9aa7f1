"""Which policy version decides a message: the one in force at its event time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from smsledger.domain.policies import Policy
from smsledger.domain.policy_versions import PolicyVersions


class VersionInForce:
    """The version in force at a message's time, kept for the period it stays in force
    (consecutive messages rarely cross a version's effective date)."""

    def __init__(self, versions: PolicyVersions) -> None:
        self.versions = versions
        self._policy: Policy | None = None
        self._start: datetime | None = None
        self._end: datetime | None = None

    def at(self, moment: datetime, used: dict[str, list[Any]]) -> Policy | None:
        """The version in force at `moment` (None: none is), noted in `used` (a batch's
        `policy_versions`) with the earliest and latest event times it decided."""
        policy = self._policy
        if (policy is None or self._start is None or moment < self._start
                or (self._end is not None and moment >= self._end)):
            policy = self.versions.at(moment)
            if policy is None:
                return None
            self._policy = policy
            self._start, self._end = self.versions.period(moment)
        row = used.get(policy.ref)
        if row is None:
            used[policy.ref] = self._row(policy, moment)
        elif moment > row[7]:
            row[7] = moment
        elif moment < row[6]:
            row[6] = moment
        return policy

    def _row(self, policy: Policy, moment: datetime) -> list[Any]:
        version = self.versions.version(policy.ref)
        assert version is not None, f"{policy.ref} is not among the versions"
        return [policy.ref, policy.name, policy.version, policy.effective_from.isoformat(),
                version.digest, version.content, moment, moment]
