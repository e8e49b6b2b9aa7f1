"""Policy files: the TOML text of one policy version, parsed into a `PolicyVersion`.

Pure (the caller reads the files). Every field of `Policy` but its name, version and
effective date is a parameter, read from the `[parameters]` table by its field name, so a
parameter added to `Policy` needs only its entry in the files. `[clauses]` quotes, for each
rule id a decision under the version can name, the clause of the policy text it enforces.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

from . import policies
from .policies import Policy
from .policy_versions import PolicyFileError, PolicyVersion, digest_of

TOP_LEVEL = ("name", "version", "effective_from", "text", "parameters", "clauses")
HEADER = ("name", "version", "effective_from")
PAYMENT_METHODS = ("card", "crypto", "other")
CHOICES = {"spent_after": ("completed", "accepted")}
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_RULE_ID = re.compile(r"[a-z]+\.[a-z_]+")

# Every rule id the domain names (the constants of `domain.policies`).
KNOWN_RULES = frozenset(
    value for key, value in vars(policies).items()
    if key.isupper() and isinstance(value, str) and _RULE_ID.fullmatch(value)
)
# Rule ids every version's decisions can name, and those that only some parameters bring.
ALWAYS_USED = (
    policies.WINDOW_EXPIRED, policies.SPENT_AFTER, policies.ALREADY_REFUNDED,
    policies.THIRD_PARTY, policies.AMOUNT_CAPPED, policies.BALANCE_CAP,
    policies.ACCOUNT_BLOCKED, policies.ACCOUNT_CLOSED,
    # An order whose code arrived completes when its account ends; a deposit reaching a
    # closed account goes back; the early-cancel lock is a setting applied to every version.
    policies.ORDER_CODE_DELIVERED, policies.DEPOSIT_AFTER_CLOSURE, policies.ORDER_CANCEL_LOCK,
)
USED_WHEN: dict[str, Callable[[Policy], bool]] = {
    policies.CRYPTO_FINAL: lambda p: p.crypto_final,
    policies.METHOD_NOT_REFUNDABLE: lambda p: p.refundable_methods is not None,
    policies.ACCIDENTAL: lambda p: p.accidental_refused,
    policies.DETAILS_MISSING: lambda p: p.details_window is not None,
    policies.EU_WAIVER: lambda p: p.eu_waiver_by_conduct,
    policies.ORDER_WRONG_CODE: lambda p: p.refunds_wrong_code,
    policies.ORDER_INCOMPLETE_SMS: lambda p: p.refunds_incomplete_sms,
    policies.ORDER_CODE_DISPLAYED: lambda p: p.refunds_incomplete_sms,
    policies.ORDER_SMS_RECEIVED: lambda p: not (p.refunds_wrong_code
                                                and p.refunds_incomplete_sms
                                                and p.complaint_window is not None
                                                and p.refunds_cancel_error),
    policies.ORDER_NUMBER_ALREADY_USED: lambda p: p.number_already_used_cancels,
    policies.ORDER_CANCEL_ERROR: lambda p: p.refunds_cancel_error,
    policies.ORDER_SMS_NOT_RECEIVED: lambda p: not p.refunds_cancel_error,
    policies.ORDER_COMPLAINT_WINDOW: lambda p: p.complaint_window is not None,
    # An extension moves the payout period, which only a version with one sets.
    policies.REQUEST_EXTENDED: lambda p: p.payout_window is not None,
}


def rules_used(policy: Policy) -> list[str]:
    """The rule ids a decision under `policy` can name: each needs a clause."""
    return sorted({*ALWAYS_USED, *(rule for rule, used in USED_WHEN.items() if used(policy))})


def parameters() -> dict[str, Any]:
    """Parameter name -> its type, for every field of `Policy` a file sets."""
    hints = typing.get_type_hints(Policy)
    return {f.name: hints[f.name] for f in fields(Policy) if f.name not in HEADER}


def parse_policy_file(content: bytes, source: str) -> PolicyVersion:
    """One version from the bytes of its file; `source` names the file in errors."""
    try:
        text = content.decode("utf-8")
        data = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise PolicyFileError(f"{source}: not a TOML file: {error}") from None
    problems = [f"unknown key {key!r}" for key in data if key not in TOP_LEVEL]
    problems += [f"missing key {key!r}" for key in TOP_LEVEL if key not in data]
    if problems:
        raise PolicyFileError(f"{source}: {'; '.join(problems)}")
    try:
        header: dict[str, Any] = {
            "name": _checked(data["name"], _NAME, "name"),
            "version": _checked(_version_text(data["version"]), _VERSION, "version"),
            "effective_from": _moment(data["effective_from"]),
        }
        quoted = _string(data["text"], "text")
    except ValueError as error:
        raise PolicyFileError(f"{source}: {error}") from None
    policy = Policy(**header, **_parameters(data["parameters"], source))
    clauses = _clauses(data["clauses"], policy, source)
    return PolicyVersion(
        policy=policy, clauses=clauses, text=quoted, source=source, content=text,
        digest=digest_of(text),
    )


def missing_quotes(version: PolicyVersion, policy_text: str) -> list[str]:
    """The rule ids whose clause is not in `policy_text`, word for word (runs of white
    space count as one space)."""
    haystack = _collapsed(policy_text)
    return [rule for rule, clause in version.clauses.items()
            if _collapsed(clause) not in haystack]


def _collapsed(text: str) -> str:
    return " ".join(text.split())


def _checked(value: Any, pattern: re.Pattern[str], key: str) -> str:
    text = _string(value, key)
    if not pattern.fullmatch(text):
        raise ValueError(f"{key} {text!r}: letters, digits and . _ - only")
    return text


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string, not {value!r}")
    return value


def _version_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _moment(value: Any) -> datetime:
    """An RFC 3339 time with an offset: a TOML offset date-time or a string."""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError(
            f"effective_from {value!r} is not an RFC 3339 time with an offset"
            " (e.g. 2026-07-01T00:00:00Z)"
        )
    return moment.astimezone(UTC)


def _parameters(table: Any, source: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise PolicyFileError(f"{source}: [parameters] must be a table")
    known = parameters()
    problems = [f"unknown parameter {key!r}" for key in table if key not in known]
    problems += [f"missing parameter {key!r}" for key in known if key not in table]
    values: dict[str, Any] = {}
    for key, hint in known.items():
        if key in table:
            try:
                values[key] = _value(key, hint, table[key])
            except ValueError as error:
                problems.append(f"parameter {key!r}: {error}")
    if problems:
        raise PolicyFileError(f"{source}: {'; '.join(problems)}")
    return values


def _value(key: str, hint: Any, value: Any) -> Any:
    """`value` as the field's type; `false` leaves a parameter that may be unset unset."""
    if isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint):
        if value is False:
            return None
        (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"true or false, not {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"a whole number 0 or more, not {value!r}")
        return value
    if hint is str:
        allowed = CHOICES.get(key)
        if not isinstance(value, str) or (allowed is not None and value not in allowed):
            raise ValueError(f"one of {', '.join(allowed or ('a string',))}, not {value!r}")
        return value
    if hint is timedelta:
        return _duration(value)
    if typing.get_origin(hint) is frozenset:
        return _methods(key, value)
    raise TypeError(f"Policy.{key}: policy files cannot express {hint}")


def _duration(value: Any) -> timedelta:
    """A duration such as "20m", "7d", "36h", "1h30m", "0s"."""
    found = _DURATION.fullmatch(value) if isinstance(value, str) and value else None
    if found is None:
        raise ValueError(f'a duration like "7d", "24h", "20m", "90s", not {value!r}')
    days, hours, minutes, seconds = (int(part or 0) for part in found.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _methods(key: str, value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"a list of strings, not {value!r}")
    if key.endswith("_methods"):
        unknown = sorted(set(value) - set(PAYMENT_METHODS))
        if unknown:
            raise ValueError(f"unknown payment method {', '.join(unknown)}"
                             f" (known: {', '.join(PAYMENT_METHODS)})")
    return frozenset(value)


def _clauses(table: Any, policy: Policy, source: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise PolicyFileError(f"{source}: [clauses] must be a table")
    problems = [f"unknown rule id {rule!r}" for rule in table if rule not in KNOWN_RULES]
    problems += [f"clause of {rule!r} must be a non-empty string" for rule, clause
                 in table.items() if not isinstance(clause, str) or not clause.strip()]
    problems += [f"rule id {rule!r} has no clause" for rule in rules_used(policy)
                 if rule not in table]
    if problems:
        raise PolicyFileError(f"{source}: {'; '.join(problems)}")
    return dict(sorted(table.items()))
