"""Policy files: the shipped versions, validation on load, and versions by effective date."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsledger.domain.policies import POLICIES
from smsledger.domain.policy_parsing import parameters, parse_policy_file, rules_used
from smsledger.domain.policy_versions import (
    PolicyFileError,
    PolicySet,
    PolicyVersions,
    UsedVersion,
    spliced,
    store_conflicts,
)
from smsledger.infra.policy_files import load_policy_set, package_folder, package_versions
from tests.policy_support import SHIPPED, shipped_text, write_version

# --- the shipped versions -----------------------------------------------------------------


def test_the_installed_package_ships_the_first_version_of_each_text() -> None:
    versions = {v.ref: v for v in package_versions()}
    assert set(versions) == set(SHIPPED)
    assert versions["1001sms@2024-06-15"].policy.effective_from == datetime(
        2024, 6, 15, tzinfo=UTC)
    # Far enough back that all traffic of the tests and the simulator falls under them.
    assert all(v.policy.effective_from <= datetime(2024, 6, 15, tzinfo=UTC)
               for v in versions.values())


@pytest.mark.parametrize("ref", sorted(SHIPPED))
def test_a_shipped_file_says_what_the_domain_policy_says(ref: str) -> None:
    """The files decide at run time; the domain's constants (used by pure tests) agree."""
    version = {v.ref: v for v in package_versions()}[ref]
    constant = POLICIES[version.policy.name]
    assert replace(version.policy, effective_from=constant.effective_from) == constant


def test_every_parameter_of_the_policy_is_in_every_file() -> None:
    for version in package_versions():
        table = parse_toml_parameters(version.content)
        assert set(table) == set(parameters()), version.source


def parse_toml_parameters(content: str) -> dict[str, object]:
    import tomllib

    table = tomllib.loads(content)["parameters"]
    assert isinstance(table, dict)
    return table


# --- validation on load, naming the file -----------------------------------------------------

BAD_FILES = {
    "unknown parameter": ({"eu_waiver_by_conduct": "eu_waiver_by_conduct = false\n"
                                                   "deposit_windw = \"3d\""},
                          "unknown parameter 'deposit_windw'"),
    "missing parameter": ({"deposit_window": ""}, "missing parameter 'deposit_window'"),
    "a rule id without a clause": ({"request.accidental": ""},
                                   "rule id 'request.accidental' has no clause"),
    "an unknown rule id": ({"order.wrong_code": '"order.wrong_cod" = "wrong SMS code was'
                                                  ' received"'},
                           "unknown rule id 'order.wrong_cod'"),
    "a clause not in the text": ({"order.wrong_code": '"order.wrong_code" = "a wrong code"'},
                                 "not found word for word"),
    "a bad duration": ({"deposit_window": 'deposit_window = "a week"'},
                       "parameter 'deposit_window': a duration"),
    "a bad choice": ({"spent_after": 'spent_after = "paid"'},
                     "parameter 'spent_after': one of completed, accepted"),
    "an unknown method": ({"refundable_methods": 'refundable_methods = ["card", "cash"]'},
                          "unknown payment method cash"),
    "a time without offset": ({"effective_from": "effective_from = 2026-07-01T00:00:00"},
                              "not an RFC 3339 time with an offset"),
    "an unknown key": ({"text": 'text = "sms-service-return-policy.txt"\nauthor = "x"'},
                       "unknown key 'author'"),
    "a missing text": ({"text": 'text = "nowhere.txt"'}, "policy text 'nowhere.txt' not found"),
    "not TOML": ({"name": "name = sms-service"}, "not a TOML file"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_policy_file_is_refused_naming_the_file(case: str, tmp_path: Path) -> None:
    edits, said = BAD_FILES[case]
    path = write_version(tmp_path, version='version = "2"', **edits)
    with pytest.raises(PolicyFileError) as refused:
        load_policy_set(str(tmp_path))
    assert str(path) in str(refused.value)
    assert said in str(refused.value)


def test_two_files_of_one_version_are_refused_naming_both(tmp_path: Path) -> None:
    path = write_version(tmp_path, effective_from="effective_from = 2026-07-01T00:00:00Z")
    with pytest.raises(PolicyFileError) as refused:
        load_policy_set(str(tmp_path))
    assert str(path) in str(refused.value)
    assert "sms-service@1.toml" in str(refused.value)


def test_two_versions_taking_effect_at_once_are_refused(tmp_path: Path) -> None:
    write_version(tmp_path, version='version = "2"',
                  effective_from="effective_from = 2026-07-01T00:00:00Z")
    write_version(tmp_path, version='version = "3"',
                  effective_from='effective_from = "2026-07-01T02:00:00+02:00"')
    with pytest.raises(PolicyFileError, match="at the same time as"):
        load_policy_set(str(tmp_path))


def test_a_missing_policy_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="does not exist"):
        load_policy_set(str(tmp_path / "absent"))


def test_a_version_in_a_directory_may_quote_its_own_text(tmp_path: Path) -> None:
    text = (package_folder() / "sms-service-return-policy.txt").read_text(encoding="utf-8")
    (tmp_path / "v2.txt").write_text(text.replace("1 (one) calendar week", "3 (three) days"))
    write_version(
        tmp_path, version='version = "2"', text='text = "v2.txt"',
        effective_from="effective_from = 2026-07-01T00:00:00Z",
        deposit_window='deposit_window = "3d"',
        **{"deposit.window_expired": '"deposit.window_expired" = "within a period exceeding'
                                       ' 3 (three) days prior to contacting"'},
    )
    versions = load_policy_set(str(tmp_path)).policy("sms-service")
    assert versions.refs == ["sms-service@1", "sms-service@2"]
    assert versions.versions[1].policy.deposit_window == timedelta(days=3)


def test_every_rule_a_version_can_name_has_its_clause() -> None:
    for version in package_versions():
        assert set(rules_used(version.policy)) <= set(version.clauses), version.ref


# --- versions by effective date ---------------------------------------------------------

T0 = datetime(2026, 7, 1, tzinfo=UTC)


def versions_with_change(tmp_path: Path) -> PolicyVersions:
    write_version(tmp_path, version='version = "2"',
                  effective_from="effective_from = 2026-07-01T00:00:00Z",
                  deposit_window='deposit_window = "3d"')
    return load_policy_set(str(tmp_path)).policy("sms-service")


@pytest.mark.parametrize(
    ("moment", "version"),
    [(T0 - timedelta(microseconds=1), "1"), (T0, "2"), (T0 + timedelta(days=400), "2"),
     (datetime(2019, 12, 31, tzinfo=UTC), None)],
    ids=["just before", "exactly at", "long after", "before the first version"],
)
def test_the_version_in_force_is_the_latest_effective_at_or_before(
    moment: datetime, version: str | None, tmp_path: Path
) -> None:
    found = versions_with_change(tmp_path).at(moment)
    assert (found.version if found else None) == version


def used(ref: str, digest: str, at: datetime, first: datetime | None = None) -> UsedVersion:
    return UsedVersion(ref, digest, first or at, at)


def test_a_store_refuses_a_changed_or_removed_version_it_used(tmp_path: Path) -> None:
    versions = versions_with_change(tmp_path)
    v1, v2 = versions.versions
    before = T0 - timedelta(days=1)
    assert store_conflicts(versions, [used(v1.ref, v1.digest, before),
                                      used(v2.ref, v2.digest, T0)]) == []
    (changed,) = store_conflicts(versions, [used(v1.ref, "0" * 64, before)])
    assert "sms-service@1" in changed
    assert "was changed" in changed
    (removed,) = store_conflicts(PolicySet(package_versions()).policy("sms-service"),
                                 [used(v1.ref, v1.digest, before), used(v2.ref, v2.digest, T0)])
    assert "sms-service@2" in removed
    assert "not among the versions" in removed


def test_a_store_takes_a_future_version_but_not_one_before_its_decisions(
    tmp_path: Path
) -> None:
    versions = versions_with_change(tmp_path)
    v1 = versions.versions[0]
    assert store_conflicts(versions, [used(v1.ref, v1.digest, T0 - timedelta(days=1))]) == []
    (late,) = store_conflicts(versions, [used(v1.ref, v1.digest, T0)])
    assert "sms-service@2" in late
    assert "contradict decisions" in late


def test_a_what_if_splice_keeps_the_store_versions_before_its_time(tmp_path: Path) -> None:
    store = PolicySet(package_versions()).policy("sms-service")
    other = PolicySet(package_versions()).policy("1001sms")
    joined = spliced(store, other, T0)
    assert joined.at(T0 - timedelta(seconds=1)).ref == "sms-service@1"  # type: ignore[union-attr]
    assert joined.at(T0).ref == "1001sms@2024-06-15"  # type: ignore[union-attr]
    assert spliced(store, store, T0).refs == ["sms-service@1"]


def test_file_content_is_the_digest() -> None:
    content = shipped_text("sms-service@1").encode()
    a = parse_policy_file(content, "a")
    b = parse_policy_file(content.replace(b"# The SMS", b"# the SMS"), "b")
    assert a.policy == b.policy
    assert a.digest != b.digest


def test_a_version_superseded_before_the_store_decided_anything_is_no_conflict(
    tmp_path: Path
) -> None:
    versions = versions_with_change(tmp_path)
    v2 = versions.versions[1]
    assert store_conflicts(versions, [used(v2.ref, v2.digest, T0 + timedelta(days=2),
                                           first=T0 + timedelta(days=1))]) == []


def test_a_version_taking_effect_before_a_recorded_first_decision_is_a_conflict(
    tmp_path: Path
) -> None:
    """v1 decided from T0 + 1 day; a v2 from T0 would have decided those messages."""
    versions = versions_with_change(tmp_path)
    v1 = versions.versions[0]
    (late,) = store_conflicts(versions, [used(v1.ref, v1.digest, T0 + timedelta(days=2),
                                              first=T0 + timedelta(days=1))])
    assert "sms-service@2" in late
