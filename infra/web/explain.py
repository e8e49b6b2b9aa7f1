"""The decisions in an aggregate's history, in words: what each event decided and the rules
that decided it (README, Refund policies)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smsledger.domain import policies as p
from smsledger.projections.formats import iso

RULES: dict[str, str] = {
    p.WINDOW_EXPIRED: "the deposit is older than the policy's refund window (7 days)",
    p.SPENT_AFTER: "an order bought after this deposit was completed (sms-service) or "
                   "accepted (1001sms): the deposit is spent",
    p.CRYPTO_FINAL: "crypto deposits are final (1001sms)",
    p.METHOD_NOT_REFUNDABLE: "only card deposits go back to the payment method (1001sms)",
    p.ALREADY_REFUNDED: "the deposit has been refunded already",
    p.ACCIDENTAL: "an accidental top-up is not refunded (sms-service)",
    p.THIRD_PARTY: "incompatibility with third-party software is not refunded",
    p.DETAILS_MISSING: "the request waits for payment details; it expires after 14 days",
    p.AMOUNT_CAPPED: "the request named more than is refundable: the refundable amount is "
                     "granted",
    p.BALANCE_CAP: "the refundable amount is capped by the available balance",
    p.ACCOUNT_BLOCKED: "the account is blocked: no refund",
    p.ACCOUNT_CLOSED: "the account is closed",
    p.EU_WAIVER: "the EU consumer's withdrawal waiver is recorded (by conduct or explicitly)",
    p.ORDER_WRONG_CODE: "a wrong code is refunded to the balance (sms-service)",
    p.ORDER_INCOMPLETE_SMS: "an incomplete SMS text is refunded to the balance (sms-service)",
    p.ORDER_SMS_RECEIVED: "an SMS arrived: only a missing SMS is refunded (1001sms)",
    p.ORDER_CODE_DISPLAYED: "the code was displayed: the service is deemed delivered",
    p.ORDER_NUMBER_ALREADY_USED: "the number had been used already: cancelled and released "
                                 "(sms-service)",
    p.ORDER_CODE_DELIVERED: "the code had arrived: the order is completed and charged when "
                            "its account is blocked or closed",
    p.ORDER_SMS_NOT_RECEIVED: "no SMS had arrived: the failed cancel releases the hold "
                              "(1001sms)",
    p.ORDER_CANCEL_ERROR: "the cancel button failed: the hold is released (sms-service)",
    p.ORDER_CANCEL_LOCK: "a cancel before the early-cancel lock has passed is refused",
    p.ORDER_COMPLAINT_WINDOW: "complaints are heard up to 24 hours after completion "
                              "(sms-service)",
    p.DEPOSIT_AFTER_CLOSURE: "a deposit reaching a closed account goes back to its payment "
                             "method",
    p.REQUEST_EXTENDED: "the refund period was extended (sms-service)",
}

# Event attributes that state a decision's outcome, in the order they are shown.
OUTCOME_FIELDS = ("status", "reason", "complaint", "by", "amount", "released", "charged",
                  "forfeited", "trigger")


@dataclass(frozen=True)
class Decision:
    at: str
    event: str
    outcome: str
    policy: str | None
    rules: list[tuple[str, str]]  # (rule id, what it says; "" when unknown)


def decisions(events: list[Any], as_of: datetime | None = None) -> list[Decision]:
    """The events that carry a decision (a policy, rules, a reason or a status)."""
    found = []
    for event in events:
        if as_of is not None and event.timestamp > as_of:
            break
        state = vars(event)
        if not {"policy", "rules", "reason", "complaint", "status"} & state.keys():
            continue
        outcome = ", ".join(f"{name} {state[name]}" for name in OUTCOME_FIELDS
                            if state.get(name) is not None)
        found.append(Decision(
            at=iso(event.timestamp) or "", event=type(event).__qualname__, outcome=outcome,
            policy=state.get("policy"),
            rules=[(rule, RULES.get(rule, "")) for rule in state.get("rules") or ()],
        ))
    return found
