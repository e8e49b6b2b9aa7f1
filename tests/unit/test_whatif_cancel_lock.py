"""The cancel-lock setting applies to the what-if policy's versions as to the store's."""

from __future__ import annotations

from datetime import timedelta

from smsledger.infra.cli.policy_commands import other_policy
from smsledger.infra.policy_files import load_policy_set


def test_the_cancel_lock_setting_replaces_the_lock_of_every_other_version() -> None:
    known = load_policy_set(None)
    lock = timedelta(seconds=90)
    for spec in ("1001sms", "sms-service@1"):
        versions = other_policy(spec, known, lock)
        assert [v.policy.cancel_lock for v in versions.versions] == [lock] * len(
            versions.versions)
    unchanged = other_policy("1001sms", known)
    assert {v.policy.cancel_lock for v in unchanged.versions} == {timedelta(0)}
