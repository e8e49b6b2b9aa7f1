"""Order-level rules beyond the open order: complaints about a completed order, a failed
cancel button, and what a block or a closure does to an order still open.

Pure decisions over facts of the order and its account; the domain services apply them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .policies import (
    ACCOUNT_BLOCKED,
    ACCOUNT_CLOSED,
    ORDER_CANCEL_ERROR,
    ORDER_CODE_DELIVERED,
    ORDER_COMPLAINT_WINDOW,
    ORDER_INCOMPLETE_SMS,
    ORDER_SMS_NOT_RECEIVED,
    ORDER_SMS_RECEIVED,
    Policy,
)


@dataclass(frozen=True)
class OrderRuling:
    """What a rule makes of an order: `action` is "complete", "cancel", "force_cancel" or
    "refuse" (then `refusal` is the rejection reason); `rules` name the clauses."""

    action: str
    rules: tuple[str, ...]
    refusal: str = ""


def late_complaint_refusal(
    policy: Policy, *, account_status: str, completed_at: datetime | None, now: datetime
) -> OrderRuling | None:
    """Why a wrong-code or incomplete-SMS report about a completed order is refused before
    its content is weighed, or None when it is inside the complaint window."""
    if account_status == "blocked":
        return OrderRuling("refuse", (ACCOUNT_BLOCKED,), "account_blocked")
    if account_status == "closed":
        return OrderRuling("refuse", (ACCOUNT_CLOSED,), "account_closed")
    if policy.complaint_window is None:
        return OrderRuling("refuse", (ORDER_SMS_RECEIVED,), "policy_refuses")
    if completed_at is None or now > completed_at + policy.complaint_window:
        return OrderRuling("refuse", (ORDER_COMPLAINT_WINDOW,), "complaint_too_late")
    return None


def at_account_end(policy: Policy, *, account_rule: str, state: str, code: str | None) -> (
    OrderRuling
):
    """An open order when its account is blocked or closed: a delivered code is sold
    ("no refund ... after a correct SMS message has been sent"), so the order completes
    and is captured; an order without a code is cancelled and its hold released. An SMS
    without a code completes too unless the policy refunds an incomplete text."""
    if state not in ("sms_received", "waiting_retry"):
        return OrderRuling("force_cancel", (account_rule,))
    if code is not None:
        return OrderRuling("complete", (account_rule, ORDER_CODE_DELIVERED))
    if policy.refunds_incomplete_sms:
        return OrderRuling("force_cancel", (account_rule, ORDER_INCOMPLETE_SMS))
    return OrderRuling("complete", (account_rule, ORDER_SMS_RECEIVED))


def cancel_failed(policy: Policy, *, sms_count: int, code: str | None) -> OrderRuling:
    """A reported error of the cancel button. sms-service guarantees the refund ("various
    errors when trying to cancel the number"): released from any open state without a
    code. 1001sms refunds only a missing SMS: an ordinary cancel while none arrived."""
    if policy.refunds_cancel_error:
        if code is not None:
            return OrderRuling("refuse", (ORDER_CODE_DELIVERED,), "code_received")
        return OrderRuling("force_cancel", (ORDER_CANCEL_ERROR,))
    if sms_count:
        return OrderRuling("refuse", (ORDER_SMS_RECEIVED,), "policy_refuses")
    return OrderRuling("cancel", (ORDER_SMS_NOT_RECEIVED,))
