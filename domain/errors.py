"""The domain's errors: business refusals carry a machine-readable reason."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error the domain raises."""


class Refused(LedgerError):
    """A valid command that the business rules refuse; it becomes a rejection record."""

    def __init__(self, reason: str, detail: str = "", rules: tuple[str, ...] = ()) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.rules = rules


class TransitionRejected(Refused):
    """The order lifecycle has no such transition from the current state."""

    def __init__(self, state: str, transition: str, reason: str | None = None) -> None:
        super().__init__(
            reason or "invalid_transition", f"cannot {transition} an order in state {state}"
        )
        self.state = state
        self.transition = transition


class InsufficientFunds(Refused):
    def __init__(self, available: int, needed: int) -> None:
        super().__init__("insufficient_funds", f"available {available}, needed {needed}")


class NotOwner(Refused):
    def __init__(self, account: str, order: str) -> None:
        super().__init__("not_owner", f"account {account} does not own {order}")


class InvariantViolated(LedgerError):
    """The money invariant would break: a programming error, never a business outcome."""


class CurrencyMismatch(LedgerError):
    """Input in a currency the account does not hold: bad input, dead-lettered."""

    def __init__(self, held: str, given: str) -> None:
        super().__init__(f"account holds {held}, message says {given}")
        self.reason = "currency_mismatch"
