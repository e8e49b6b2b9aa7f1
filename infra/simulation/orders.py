"""Simulated number orders: the customer's request, the provider's answer, SMS and reactions."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from smsledger.infra.simulation.world import Account, Message, Order, World

# service: (base price in cents, label in the SMS text, popularity weight)
SERVICES: dict[str, tuple[int, str, int]] = {
    "telegram": (45, "Telegram", 30),
    "whatsapp": (60, "WhatsApp", 25),
    "google": (35, "Google", 12),
    "openai": (80, "OpenAI", 8),
    "instagram": (30, "Instagram", 7),
    "facebook": (25, "Facebook", 6),
    "tiktok": (28, "TikTok", 5),
    "discord": (22, "Discord", 4),
    "amazon": (30, "Amazon", 2),
    "uber": (14, "Uber", 1),
}
# ISO 3166-1 country: (price multiplier, calling code, popularity weight)
COUNTRIES: dict[str, tuple[float, str, int]] = {
    "US": (3.0, "1", 20),
    "GB": (2.5, "44", 10),
    "DE": (2.2, "49", 8),
    "NL": (2.0, "31", 4),
    "PL": (1.2, "48", 6),
    "IN": (0.6, "91", 15),
    "ID": (0.5, "62", 14),
    "PH": (0.6, "63", 10),
    "BR": (0.8, "55", 8),
    "KZ": (0.7, "7", 5),
}
UNAVAILABLE_REASONS = ("no_numbers",) * 12 + ("service_unavailable",) * 5 + ("provider_error",) * 3
TEMPLATES = (
    "Your {s} code: {c}",
    "{c} is your {s} verification code.",
    "<#> {s}: {c}. Do not share this code with anyone.",
    "{s} code {c}. It expires in 10 minutes.",
)
MIN_PRICE, MAX_PRICE = 10, 300

_SERVICE_POOL = tuple(name for name, (_, _, w) in SERVICES.items() for _ in range(w))
_COUNTRY_POOL = tuple(code for code, (_, _, w) in COUNTRIES.items() for _ in range(w))

Quote = tuple[str, str, int]


@cache
def _provider_pool(providers: tuple[str, ...]) -> tuple[str, ...]:
    """Providers weighted by market share: the first is the busiest."""
    n = len(providers)
    return tuple(p for i, p in enumerate(providers) for _ in range(n - i + 1))


@cache
def _profiles(providers: tuple[str, ...], no_sms: float) -> dict[str, tuple[float, float]]:
    """Per provider: the chance of never delivering an SMS, and the median seconds to deliver."""
    return {
        p: (min(1.0, no_sms * (0.7 + 0.3 * i)), 20.0 + 15.0 * i) for i, p in enumerate(providers)
    }


def _profile(world: World, provider: str) -> tuple[float, float]:
    return _profiles(world.config.providers, world.config.no_sms_share)[provider]


def quote(world: World) -> Quote:
    """A service and country the customer wants, with the shop's price for it."""
    service, country = world.pick(_SERVICE_POOL), world.pick(_COUNTRY_POOL)
    raw = SERVICES[service][0] * COUNTRIES[country][0] * (0.9 + 0.2 * world.random())
    return service, country, min(MAX_PRICE, max(MIN_PRICE, round(raw)))


def place(world: World, t: int, account: Account, wanted: Quote, over: bool) -> Message:
    """`order.requested`; an over-order (short of funds) is rejected, so no provider follows."""
    service, country, price = wanted
    order = Order(world.next_id("ord", 6), account, service, country, price)
    if not over:
        account.balance -= price
        world.at(t + world.randint(1, 8), respond, order)
    data: dict[str, Any] = {
        "account": account.ext,
        "order": order.ext,
        "service": service,
        "country": country,
        "price": price,
    }
    return ("order.requested", data)


def respond(world: World, t: int, order: Order) -> Message | None:
    """The provider answers: a number, no number, or (rarely) silence until the window ends."""
    config, r = world.config, world.random()
    if r < config.silent_provider_share:
        world.at(t + config.window_seconds, believe_released, order.account, order.price)
        return None
    if r < config.silent_provider_share + config.unavailable_share:
        order.account.balance += order.price
        reason = world.pick(UNAVAILABLE_REASONS)
        return ("number.unavailable", {"order": order.ext, "reason": reason})
    return _issue(world, t, order)


def _issue(world: World, t: int, order: Order) -> Message:
    order.provider = world.pick(_provider_pool(world.config.providers))
    order.issued_at = t
    phone = f"+{COUNTRIES[order.country][1]}{world.randint(10**9, 10**10 - 1)}"
    data: dict[str, Any] = {"order": order.ext, "provider": order.provider, "phone": phone}
    data["activation"] = str(world.randint(10**8, 10**9 - 1))
    r = world.random()
    if r < 0.15 and order.price > MIN_PRICE:
        charged = order.price - world.randint(1, max(1, order.price // 4))
        order.account.balance += order.price - charged
        order.price = data["price"] = charged
    elif r < 0.40:
        data["price"] = order.price
    _plan_activation(world, t, order)
    return ("number.issued", data)


def _plan_activation(world: World, t: int, order: Order) -> None:
    """Decide up front when the SMS comes (if ever) and whether the customer cancels first."""
    window = world.config.window_seconds
    no_sms, median = _profile(world, order.provider)
    sms = None if world.random() < no_sms else _sms_delay(world, median)
    cancel, reason = _cancel_plan(world, sms is None)
    if cancel is not None and (sms is None or cancel < sms):
        world.at(t + cancel, cancel_waiting, order, reason)
        if sms is not None and world.random() < 0.15:  # the provider sends it anyway, too late
            world.at(t + sms, deliver, order, 1, False)
        return
    if sms is None or sms > window:
        world.at(t + window, believe_released, order.account, order.price)
    if sms is not None:
        world.at(t + sms, deliver, order, 1, sms <= window)


def _sms_delay(world: World, median: float) -> int:
    """Seconds from issue to SMS: log-normal, mostly under a minute, a tail past the window."""
    return min(1800, max(3, int(world.rng.lognormvariate(math.log(median), 0.9))))


def _cancel_plan(world: World, no_sms: bool) -> tuple[int | None, str | None]:
    """When (seconds after issue) the customer cancels while waiting, and why; or never."""
    r = world.random()
    if r < 0.04:
        return world.randint(40, 300), "number_already_used"
    if r < 0.09:
        return world.randint(120, 1100), None
    if no_sms and r < 0.55:
        return world.randint(180, 1150), None
    return None, None


def believe_released(world: World, t: int, account: Account, amount: int) -> None:
    """The customer sees the hold come back (window over): no message, only their belief."""
    account.balance += amount


def cancel_waiting(world: World, t: int, order: Order, reason: str | None) -> Message | None:
    if not order.account.active:
        return None
    order.account.balance += order.price
    data: dict[str, Any] = {"order": order.ext, "account": order.account.ext}
    if reason is not None:
        data["reason"] = reason
    return ("order.cancel_requested", data)


def deliver(world: World, t: int, order: Order, attempt: int, react: bool) -> Message:
    """`sms.delivered`, sometimes with an incomplete text (code null)."""
    label = SERVICES[order.service][1]
    code: str | None = None
    if world.random() < world.config.incomplete_sms_share:
        prefix = f"Your {label} verification code is"
        text = prefix[: world.randint(6, len(prefix) - 1)]
    else:
        code = str(world.randint(10_000, 999_999))
        text = world.pick(TEMPLATES).format(s=label, c=code)
    if react and order.account.active:
        world.at(t + world.randint(5, 90), react_to_sms, order, attempt, code is None)
    return ("sms.delivered", {"order": order.ext, "text": text, "code": code})


def react_to_sms(
    world: World, t: int, order: Order, attempt: int, incomplete: bool
) -> Message | None:
    """The customer looks at the SMS: completes, asks again, complains, cancels, or forgets."""
    if not order.account.active:
        return None
    r, retry = world.random(), attempt == 1
    if incomplete:
        if r < 0.6:
            return _customer("order.incomplete_sms_reported", order)
        if r < 0.8 and retry:
            return _another(world, t, order)
        return _customer("order.completed", order)
    if r < 0.06 and retry:
        return _another(world, t, order)
    if r < 0.10:
        return _customer("order.wrong_code_reported", order)
    if r < 0.12:  # too late: the engine refuses a cancel once the code arrived
        return _customer("order.cancel_requested", order)
    if r < 0.93:
        return _customer("order.completed", order)
    return None  # forgotten: the window's end completes it


def _another(world: World, t: int, order: Order) -> Message:
    if world.random() < 0.65:
        at = t + _sms_delay(world, _profile(world, order.provider)[1])
        world.at(at, deliver, order, 2, at <= order.issued_at + world.config.window_seconds)
    return _customer("order.another_sms_requested", order)


def _customer(kind: str, order: Order) -> Message:
    return (kind, {"order": order.ext, "account": order.account.ext})
