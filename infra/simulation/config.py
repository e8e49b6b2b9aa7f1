"""The knobs of the simulated traffic."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime


@dataclass(frozen=True)
class SimulationConfig:
    """Knobs of the simulated traffic; every `*_share` is a probability in [0, 1]."""

    accounts: int = 200
    days: float = 1.0
    seed: int = 7
    start: datetime = datetime(2026, 6, 1, tzinfo=UTC)
    providers: tuple[str, ...] = ("smshub", "fivesim", "onlinesim")
    tick_seconds: int = 300
    window_seconds: int = 1200  # what customers expect; the engine's policy decides
    opening_span: float = 0.8  # accounts open during this leading fraction of the run
    eu_share: float = 0.3
    waiver_share: float = 0.3  # of EU customers, who also accept the waiver explicitly
    implicit_open_share: float = 0.03  # accounts opened by their first deposit only
    crypto_share: float = 0.2
    other_method_share: float = 0.05
    unavailable_share: float = 0.1
    silent_provider_share: float = 0.01  # neither a number nor a refusal
    no_sms_share: float = 0.15  # of issued numbers (busiest provider's rate is lower)
    incomplete_sms_share: float = 0.05
    overorder_share: float = 0.25  # of customers short of funds, who order anyway
    return_share: float = 0.3  # of customers ending a session, who come back later
    refund_share: float = 0.08  # of new customers, who ask for their first top-up back
    leftover_refund_share: float = 0.05  # of leaving customers, who ask for the rest back
    blocked_accounts: int = 2
    closed_accounts: int = 1
    bad_input_share: float = 0.0  # chance that a bad line follows a good one (lines only)

    def __post_init__(self) -> None:
        if self.accounts < 0 or self.blocked_accounts < 0 or self.closed_accounts < 0:
            raise ValueError("account counts must be >= 0")
        if self.days <= 0 or self.tick_seconds <= 0 or self.window_seconds <= 0:
            raise ValueError("days, tick_seconds and window_seconds must be > 0")
        if not self.providers:
            raise ValueError("at least one provider is needed")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith(("_share", "_span")) and not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} must be within [0, 1], got {value!r}")
