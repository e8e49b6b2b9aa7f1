"""`smsledger explain ID`: what was decided about an order, a refund request or a deposit,
when, under which policy@version, with the clause of the policy text behind each rule id.
Read from the event log (the decisions are in the events) and the rejections journal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smsledger.domain import ids
from smsledger.domain.clauses import clause_for
from smsledger.projections.columns import json_list, time_out
from smsledger.projections.formats import iso
from smsledger.projections.queries import run_query


@dataclass
class Decision:
    at: str | None
    event: str
    decision: str
    policy: str | None = None
    rules: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Explanation:
    kind: str
    ref: str
    account: str | None
    policy: str
    decisions: list[Decision] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.ref, "account": self.account,
                "policy": self.policy, "decisions": [vars(d) for d in self.decisions]}


def rule_quotes(rules: list[str] | tuple[str, ...], policy: str) -> list[dict[str, Any]]:
    quoted = []
    for rule in rules:
        clause = clause_for(rule, policy)
        quoted.append({
            "rule": rule,
            "clauses": list(clause.quotes) if clause else [],
            "reading": (clause.reading or None) if clause else
            f"no clause of {policy.partition('@')[0]} states this rule",
        })
    return quoted


def _order_sentence(e: Any) -> str:
    name = type(e).__name__
    if name == "Requested":
        return (f"requested {e.service} in {e.country} at {e.price}: the price is held; no"
                f" number by {iso(e.deadline)} fails it")
    if name == "Issued":
        return (f"number issued by {e.provider} at {e.price}; the activation window ends at"
                f" {iso(e.deadline)}")
    if name == "SmsReceived":
        return "SMS received" + (" with its code" if e.code is not None else
                                 " without a code (incomplete text)")
    if name == "Completed":
        return f"completed by the {e.by}: {e.charged} charged, {e.released} released"
    sentences = {
        "Rejected": "refused at request ({reason}): nothing held",
        "Failed": "failed ({reason}): {released} released to the balance",
        "AnotherSmsRequested": "another SMS requested",
        "Cancelled": "cancelled ({reason}): {released} released to the balance",
        "TimedOut": "timed out, no SMS in the window: {released} released to the balance",
        "Refunded": "refunded to the balance ({complaint}): {released} released",
    }
    return sentences.get(name, name).format(**vars(e))


def _refund_sentence(e: Any) -> str:
    name = type(e).__name__
    if name == "Decided":
        asked = "all that is eligible" if e.requested is None else str(e.requested)
        paid = ", ".join(f"{d} {a}" for d, a in e.allocations) or "none"
        return (f"request for {asked} ({e.reason}) decided {e.status}: {e.amount} to go back"
                f" to the payment method (deposits: {paid})")
    return {
        "DetailsProvided": "payment details provided: approved",
        "Expired": "expired: the payment details did not arrive in time",
        "Withdrawn": "withdrawn: the refund is no longer made",
        "Paid": f"paid out (payment system fee {getattr(e, 'fee', 0)})",
    }.get(name, name)


def _decision(event: Any, sentence: Callable[[Any], str], store_policy: str) -> Decision:
    policy = getattr(event, "policy", None) or None
    rules = list(getattr(event, "rules", ()) or ())
    return Decision(iso(event.timestamp), type(event).__qualname__, sentence(event), policy,
                    rule_quotes(rules, policy or store_policy))


def _rejections(database: Any, subject: str, store_policy: str) -> list[Decision]:
    rows = database.query(
        "SELECT at, type, reason, detail, rules FROM rejections WHERE subject = ? ORDER BY at",
        (subject,))
    return [
        Decision(time_out(at), f"rejected {kind}", f"{kind} refused ({reason}): {detail}", None,
                 rule_quotes(list(json_list(rules)), store_policy))
        for at, kind, reason, detail, rules in rows
    ]


def explain(ledger: Any, ref: str) -> Explanation:
    events_of = ledger.opened.app.events.get
    store_policy = ledger.clock().policy.ref
    database = ledger.opened.database
    order = list(events_of(ids.order_id(ref)))
    if order:
        found = Explanation("order", ref, order[0].account, store_policy)
        found.decisions = [_decision(e, _order_sentence, store_policy) for e in order]
    elif refund := list(events_of(ids.refund_request_id(ref))):
        found = Explanation("refund request", ref, refund[0].account, store_policy)
        found.decisions = [_decision(e, _refund_sentence, store_policy) for e in refund]
    else:
        found = _deposit(ledger, ref, store_policy)
    found.decisions += [d for d in _rejections(database, ref, store_policy)
                        if not (found.kind == "order" and d.event == "rejected order.requested"
                                and found.decisions[0].event == "Order.Rejected")]
    found.decisions.sort(key=lambda d: d.at or "")
    return found


def _deposit(ledger: Any, ref: str, store_policy: str) -> Explanation:
    ledger.catch_up()
    rows = ledger.opened.database.query("SELECT account FROM deposits WHERE deposit = ?", (ref,))
    if not rows:
        raise LookupError(f"no order, refund request or deposit called {ref!r}")
    account = rows[0][0]
    found = Explanation("deposit", ref, account, store_policy)
    reserved: set[str] = set()
    for event in ledger.opened.app.events.get(ids.account_id(account)):
        sentence = _deposit_sentence(event, ref, reserved)
        if sentence:
            found.decisions.append(Decision(iso(event.timestamp), type(event).__qualname__,
                                            sentence, getattr(event, "policy", None) or None))
    now = next(r for r in run_query(ledger.opened.database, "deposits", account=account)
               if r["deposit"] == ref)
    watermark = ledger.opened.store.watermark()
    found.decisions.append(Decision(
        iso(watermark), "now",
        f"refundable now: {now['refundable']}" + (
            f"; blocked by {', '.join(now['blocked_by'])}" if now["blocked_by"] else ""),
        store_policy, rule_quotes(now["blocked_by"], store_policy)))
    return found


def _deposit_sentence(event: Any, ref: str, reserved: set[str]) -> str | None:
    """What `event` of the account did to deposit `ref` (None: nothing)."""
    name = type(event).__name__
    if name == "Deposited" and event.deposit == ref:
        return f"{event.amount} credited (paid by {event.method})"
    shares = {d: a for d, a in getattr(event, "allocations", None) or ()}
    if name == "RefundReserved" and ref in shares:
        reserved.add(event.request)
        return f"{shares[ref]} of it reserved for refund request {event.request}"
    if name == "RefundReleased" and ref in shares:
        return f"{shares[ref]} of it back on the balance: refund request {event.request} ended"
    if name == "RefundPaidOut" and event.request in reserved:
        return f"refund request {event.request} paid out to the payment method"
    return None
