"""Deterministic aggregate ids from the external ids given in inbound messages."""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID, uuid5

# Fixed namespace: changing it would orphan every stored aggregate.
SMSLEDGER_NAMESPACE = UUID("6f1c2a4e-5b7d-4c1e-9a3f-2d8e7b6c5a41")


@lru_cache(maxsize=1 << 18)
def account_id(account: str) -> UUID:
    return uuid5(SMSLEDGER_NAMESPACE, f"account:{account}")


@lru_cache(maxsize=1 << 18)
def order_id(order: str) -> UUID:
    return uuid5(SMSLEDGER_NAMESPACE, f"order:{order}")


@lru_cache(maxsize=1 << 18)
def refund_request_id(request: str) -> UUID:
    return uuid5(SMSLEDGER_NAMESPACE, f"refund-request:{request}")
