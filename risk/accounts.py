"""Accounts: who may trade, on what terms, with which balances and holds."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import msgspec
from model import build

__all__ = [
    "MAX_OPEN_ORDERS",
    "ROLES",
    "Account",
    "AccountSpec",
    "FeeTier",
    "PureAccount",
    "Role",
    "max_open_orders_problem",
]

Role = Literal["trader", "market_maker", "operator"]

MAX_OPEN_ORDERS = (1 << 63) - 1
"""The most open orders an account may be allowed: the limit is a signed 64-bit integer."""


def max_open_orders_problem(limit: int) -> str | None:
    """What is wrong with ``limit`` as an account's ``max_open_orders``, or None."""
    if 0 <= limit <= MAX_OPEN_ORDERS:
        return None
    return f"{limit}: must be between 0 and {MAX_OPEN_ORDERS}"


ROLES = frozenset({"trader", "market_maker", "operator"})


class FeeTier(msgspec.Struct, frozen=True):
    """Maker and taker fee rates in basis points."""

    name: str
    maker_bps: int
    taker_bps: int

    def __post_init__(self) -> None:
        for field, bps in (("maker_bps", self.maker_bps), ("taker_bps", self.taker_bps)):
            if not 0 <= bps <= 1_000:
                raise ValueError(f"{field} {bps}: must be between 0 and 1000 basis points")


class AccountSpec(msgspec.Struct, frozen=True, kw_only=True):
    """An account as configured: identity, role and limits (no balances).

    ``max_order_notional`` is in units of the quote asset of the order's
    pair; None means no limit.
    """

    id: str
    role: Role = "trader"
    fee_tier: FeeTier = FeeTier("default", 0, 0)
    max_order_notional: int | None = None
    max_open_orders: int = 500
    enabled: bool = True

    def __post_init__(self) -> None:
        problem = max_open_orders_problem(self.max_open_orders)
        if problem is not None:
            raise ValueError(f"account {self.id!r}: max_open_orders {problem}")


class Account:
    """Live state of one account: its terms, balances, holds and controls.

    ``funds`` keeps every asset's balance and hold in one flat array of
    signed 64-bit integers (``array('q')``), in the order of ``assets``:
    ``funds[2 * i]`` is the balance of asset ``i`` and ``funds[2 * i + 1]``
    what is held of it. One small array per account (instead of two dicts
    keyed by asset id) is what the per-order hot paths index, with positions
    :class:`~risk.risk.Market` computes once: the pure build through plain
    indexing, the compiled core (risk/_fast.pyx) through the array's buffer
    as C ``long long``, so a fill writes no boxed int. Every balance fits:
    they are at most :data:`~risk.risk.MAX_UNITS` (the deposits', rebases'
    and snapshots' checks), and a hold never passes its balance. A write
    past 64 bits raises OverflowError (a bug) rather than wrap.
    ``balance``, ``held`` and ``available`` are the by-name views for
    everything else; available never goes negative. ``killed`` is the
    operator's kill switch; ``dms_deadline`` the dead man's switch instant.

    This class is the reference and the pure build's account. The compiled
    build's is the typed record of model/_order.pyx (bound to this name at
    the end of the module; this class stays as :data:`PureAccount`): the
    same attributes and methods, with the fee rates and the open-order limit
    as C integers and a pointer to ``funds``' items in the record, so that
    admitting an order for a cold account reads the record's first cache
    line and then the items, without the int objects and the array's header.
    """

    __slots__ = (
        "assets",
        "dms_deadline",
        "enabled",
        "funds",
        "id",
        "killed",
        "maker_bps",
        "max_bps",
        "max_open_orders",
        "max_order_notional",
        "role",
        "taker_bps",
        "trading",
    )

    def __init__(self, spec: AccountSpec, assets: Iterable[str]) -> None:
        self.id = spec.id
        self.role = spec.role
        self.maker_bps = spec.fee_tier.maker_bps
        self.taker_bps = spec.fee_tier.taker_bps
        self.max_bps = max(self.maker_bps, self.taker_bps)
        self.max_order_notional = spec.max_order_notional
        self.max_open_orders = spec.max_open_orders
        self.enabled = spec.enabled
        self.killed = False
        self.trading = self.enabled
        """May place orders now: enabled and not killed (kept by :meth:`set_killed`)."""
        self.dms_deadline: int | None = None
        self.assets: tuple[str, ...] = tuple(assets)
        self.funds = array("q", [0]) * (2 * len(self.assets))

    def slot(self, asset: str) -> int:
        """Position of ``asset``'s balance in ``funds`` (its hold is the next one)."""
        return 2 * self.assets.index(asset)

    @property
    def balance(self) -> dict[str, int]:
        """Balances by asset id (a copy)."""
        return {a: self.funds[2 * i] for i, a in enumerate(self.assets)}

    @property
    def held(self) -> dict[str, int]:
        """Holds by asset id (a copy)."""
        return {a: self.funds[2 * i + 1] for i, a in enumerate(self.assets)}

    def set_killed(self, killed: bool) -> None:
        """Turn the kill switch on or off."""
        self.killed = killed
        self.trading = self.enabled and not killed

    def available(self, asset: str) -> int:
        """Balance less holds in ``asset``."""
        i = self.slot(asset)
        return self.funds[i] - self.funds[i + 1]


PureAccount = Account
"""The pure build's class, kept by this name in both builds: the reference the
compiled record is tested against."""

if build.COMPILED and not TYPE_CHECKING:
    # The compiled build's record (model/_order.pyx): the same attributes and
    # methods, its rates, limits and funds' items reached without a hop.
    Account = build.compiled_order().Account
