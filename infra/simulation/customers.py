"""Simulated customers and support: opening, top-ups, shopping sessions, refunds, blocks."""

from __future__ import annotations

from typing import Any

from smsledger.infra.simulation.orders import place, quote
from smsledger.infra.simulation.world import Account, Message, World

CARD_AMOUNTS = (100, 200, 200, 300, 500, 500, 500, 1000, 1000, 1000, 2000, 2500, 5000)
OTHER_AMOUNTS = (100, 200, 300, 500, 1000, 2000)
SESSION_SIZES = (1, 1, 2, 2, 3, 3, 4, 5, 6, 8)
REFUND_REASONS = (
    ("service_problem",) * 9
    + ("accidental",) * 4
    + ("third_party_incompatibility",) * 2
    + ("other",) * 5
)
FEES = (0, 0, 0, 25, 30, 50, 100)
HOUR = 3600


def populate(world: World) -> None:
    """Every account's opening time, and the support actions against a few of them."""
    config = world.config
    span = max(1, int(world.end * config.opening_span))
    width = max(4, len(str(config.accounts)))
    times = sorted(world.randint(0, span - 1) for _ in range(config.accounts))
    accounts = []
    for i, t in enumerate(times, start=1):
        account = Account(f"acc-{i:0{width}d}", world.random() < config.eu_share, t)
        world.at(t, open_account, account)
        accounts.append(account)
    _schedule_support(world, accounts)


def _schedule_support(world: World, accounts: list[Account]) -> None:
    """Block a few early accounts for fraud mid-day and close one later, at its owner's request."""
    config, rng, end = world.config, world.rng, world.end
    blocked = min(config.blocked_accounts, len(accounts))
    closed = min(config.closed_accounts, len(accounts) - blocked)
    early = accounts[: max(blocked + closed, len(accounts) // 2)]
    chosen = rng.sample(early, blocked + closed)
    for n, account in enumerate(chosen):
        low, high = (0.4, 0.6) if n < blocked else (0.6, 0.9)
        t = max(account.opened_at + HOUR, int(end * rng.uniform(low, high)))
        world.at(min(t, end), block if n < blocked else close, account)


def open_account(world: World, t: int, account: Account) -> Message | None:
    """`account.opened`; a few customers skip it and their first deposit opens the account."""
    world.at(t + world.randint(20, 600), deposit, account)
    if world.random() < world.config.implicit_open_share:
        return None
    data = {"account": account.ext, "currency": "USD", "eu_consumer": account.eu}
    return ("account.opened", data)


def deposit(world: World, t: int, account: Account) -> Message | None:
    """`deposit.succeeded` by card, crypto or another method; the customer then shops."""
    if not account.active:
        return None
    method, amount = _payment(world)
    account.balance += amount
    account.deposits += 1
    if account.deposits == 1:
        _first_deposit(world, t, account)
    else:
        world.at(t + world.randint(10, 120), act, account)
    data: dict[str, Any] = {
        "account": account.ext,
        "deposit": world.next_id("dep", 5),
        "amount": amount,
        "currency": "USD",
        "method": method,
    }
    return ("deposit.succeeded", data)


def _payment(world: World) -> tuple[str, int]:
    """A payment method and amount; crypto amounts are converted from coins, so odd cents."""
    r, crypto = world.random(), world.config.crypto_share
    if r < crypto:
        return "crypto", world.randint(500, 5000)
    if r < crypto + world.config.other_method_share:
        return "other", world.pick(OTHER_AMOUNTS)
    return "card", world.pick(CARD_AMOUNTS)


def _first_deposit(world: World, t: int, account: Account) -> None:
    """After the first top-up: accept the EU waiver, then shop — or regret and ask it back."""
    config = world.config
    if account.eu and world.random() < config.waiver_share:
        world.at(t + world.randint(5, 120), waiver, account)
    if world.random() < config.refund_share:
        world.at(t + world.randint(300, 3 * HOUR), refund, account)
        return
    account.orders_left = world.pick(SESSION_SIZES)
    world.at(t + world.randint(10, 300), act, account)


def waiver(world: World, t: int, account: Account) -> Message | None:
    return ("waiver.accepted", {"account": account.ext}) if account.active else None


def act(world: World, t: int, account: Account) -> Message | None:
    """One step of a shopping session: order a number, top up first, or leave."""
    if not account.active:
        return None
    if account.orders_left <= 0:
        return _leave(world, t, account)
    wanted = quote(world)
    over = False
    if wanted[2] > account.balance:
        r = world.random()
        if r < world.config.overorder_share:
            over = True  # orders anyway; the engine rejects it for insufficient funds
        elif r < 0.8:
            return deposit(world, t, account)
        else:
            account.orders_left = 0
            return _leave(world, t, account)
    account.orders_left -= 1
    world.at(t + world.randint(90, 900), act, account)
    return place(world, t, account, wanted, over)


def _leave(world: World, t: int, account: Account) -> Message | None:
    """End of a session: come back hours later, ask for the leftover balance back, or go."""
    config, r = world.config, world.random()
    if r < config.return_share:
        account.orders_left = world.pick(SESSION_SIZES)
        world.at(t + world.randint(HOUR, 8 * HOUR), act, account)
        return None
    if account.balance > 0 and r < config.return_share + config.leftover_refund_share:
        return refund(world, t, account)
    return None


def refund(world: World, t: int, account: Account) -> Message | None:
    """`refund.requested` for all (no amount) or part of the balance; payout may follow."""
    if not account.active:
        return None
    request = world.next_id("rf", 4)
    details = world.random() < 0.6
    data: dict[str, Any] = {
        "request": request,
        "account": account.ext,
        "reason": world.pick(REFUND_REASONS),
        "details_provided": details,
    }
    amount = max(0, account.balance)
    if amount > 0 and world.random() < 0.5:
        amount = data["amount"] = world.randint(1, amount)
    account.balance -= amount
    if details:
        _maybe_pay(world, t, request, amount)
    elif world.random() < 0.6:
        world.at(t + world.randint(600, 6 * HOUR), give_details, request, amount)
    return ("refund.requested", data)


def give_details(world: World, t: int, request: str, amount: int) -> Message:
    _maybe_pay(world, t, request, amount)
    return ("refund.details_provided", {"request": request})


def _maybe_pay(world: World, t: int, request: str, amount: int) -> None:
    if world.random() < 0.75:
        world.at(t + world.randint(HOUR // 2, 6 * HOUR), pay, request, amount)


def pay(world: World, t: int, request: str, amount: int) -> Message:
    """`refund.paid`: the payment system may keep a fee, never more than the amount."""
    fee = min(amount, world.pick(FEES))
    return ("refund.paid", {"request": request, "fee": fee})


def block(world: World, t: int, account: Account) -> Message:
    account.active = False
    return ("account.blocked", {"account": account.ext, "reason": "fraud"})


def close(world: World, t: int, account: Account) -> Message:
    account.active = False
    return ("account.closed", {"account": account.ext})
