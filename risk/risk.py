"""Pre-trade risk: checks and holds before the book, settlement of holds after.

The engine calls :class:`Risk` in the same thread as matching, through a
narrow interface:

* :meth:`Risk.admit` runs every check a new order faces (account, size,
  cost, band, notional, open orders, funds) and computes its hold, changing
  nothing; :meth:`Risk.reserve` then takes the hold.
* :meth:`Risk.fill` settles one trade: balances and holds of both sides and
  the fee account, cumulative venue-favour rounding per order.
* :meth:`Risk.release` gives back what a closing order still held;
  :meth:`Risk.rehold` re-sizes the hold of an amended order, or refuses.
* Operator commands: deposits, withdrawals, kill switch, reference prices.

Spot and fully funded: a buy holds the quote it can still pay (price x qty
plus the worst fee, rounded up), a sell holds its base quantity. The book
never sees money; risk never sees the book.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from model.build import COMPILED
from model.commands import MARKET_KINDS, STOP_KINDS, NewOrder
from model.instrument import Instrument
from model.order import Order, TextIndex

from risk.accounts import Account, AccountSpec
from risk.money import BPS, Asset, Pair, ceil_div

__all__ = ["MAX_UNITS", "TIER_BAND_BPS", "Reject", "Risk", "RiskInvariantError"]

# Price band half-width per instrument tier, in basis points of the reference.
TIER_BAND_BPS = {1: 500, 2: 1_000}

# Every balance, and every asset's total, stays a signed 64-bit count of units
# (what the journal and the wire encode).
MAX_UNITS = (1 << 63) - 1

Reject = tuple[str, str]
"""A refusal: (reason word, text naming the field, value and rule)."""


class Market:
    """What risk needs of one instrument, in one place: sizes, scale, reference, band.

    ``low`` and ``high`` are the band edges in ticks (None with no reference);
    ``qi`` and ``bi`` the positions of the quote and base balances in
    :attr:`Account.funds` (each asset's hold follows its balance).
    """

    __slots__ = (
        "band_bps",
        "base",
        "bi",
        "cost_min",
        "den",
        "div",
        "high",
        "lot_units",
        "low",
        "num",
        "pair",
        "qi",
        "qty_max",
        "qty_min",
        "quote",
        "reference",
    )

    def __init__(self, inst: Instrument, pair: Pair, assets: list[str]) -> None:
        self.pair = pair
        # Where the quote and base balances sit in every Account.funds list.
        self.qi = 2 * assets.index(pair.quote)
        self.bi = 2 * assets.index(pair.base)
        # Copies of the pair's scale, read on every order without a second hop.
        self.base, self.quote = pair.base, pair.quote
        self.num, self.den, self.lot_units = pair.num, pair.den, pair.lot_units
        self.qty_min, self.qty_max, self.cost_min = inst.qty_min, inst.qty_max, inst.cost_min
        self.band_bps = TIER_BAND_BPS[inst.tier]
        # The account's max order notional is divided by this (trading phases).
        self.div = 1
        self.reference = 0
        self.low: int | None = None
        self.high: int | None = None


class RiskInvariantError(AssertionError):
    """Balances or holds broke an invariant: a bug, never a user error."""


class Risk:
    """Accounts, balances and holds, and the checks every order passes."""

    __slots__ = (
        "accounts",
        "assets",
        "fee_account",
        "instruments",
        "markets",
        "net_in",
    )

    def __init__(
        self,
        assets: Iterable[Asset],
        instruments: Iterable[Instrument],
        accounts: Iterable[AccountSpec],
        fee_account: str = "fees",
    ) -> None:
        self.assets = {a.id: a for a in assets}
        self.instruments = {i.symbol: i for i in instruments}
        # A dict in the pure build (model.order.TextIndex).
        self.accounts: dict[str, Account] = TextIndex()
        for spec in accounts:
            self.accounts[spec.id] = Account(spec, self.assets)
        # The fee account collects fees and rounding; it places no orders.
        self.fee_account = fee_account
        self.accounts.setdefault(
            fee_account, Account(AccountSpec(id=fee_account, enabled=False), self.assets)
        )
        if self.accounts[fee_account].enabled:
            raise ValueError(f"fee account {fee_account!r}: must not trade (enabled=False)")
        self.net_in: dict[str, int] = dict.fromkeys(self.assets, 0)
        self.markets = {
            s: Market(i, Pair.of(i, self.assets[i.base], self.assets[i.quote]), list(self.assets))
            for s, i in self.instruments.items()
        }
        for symbol, inst in self.instruments.items():
            self.set_reference(symbol, inst.reference_price)

    # ------------------------------------------------------------ reference

    def set_reference(self, symbol: str, price: int) -> None:
        """Set the reference price (ticks, 0: none) and the band edges it implies.

        The edges are rounded inward to the tick, so an order at an edge is
        inside the band.
        """
        m = self.markets[symbol]
        m.reference = price
        if price <= 0:
            m.low = m.high = None
            return
        m.low = ceil_div(price * (BPS - m.band_bps), BPS)
        m.high = price * (BPS + m.band_bps) // BPS

    def set_phase(self, symbol: str, band_bps: int | None, notional_divisor: int) -> None:
        """Apply a trading phase's rules: band half-width (None: keep) and notional divisor."""
        m = self.markets[symbol]
        m.div = notional_divisor
        if band_bps is not None and band_bps != m.band_bps:
            m.band_bps = band_bps
            self.set_reference(symbol, m.reference)

    def band(self, symbol: str) -> tuple[int, int] | None:
        """The band edges of ``symbol`` in ticks, or None with no reference price."""
        m = self.markets[symbol]
        return None if m.low is None or m.high is None else (m.low, m.high)

    # --------------------------------------------------------------- orders

    def admit(
        self, c: NewOrder, order: Order, open_orders: int, duplicate: bool, take: bool = False
    ) -> Reject | None:
        """Check a new order and compute its hold (``order.hold``; a market's cap too).

        ``open_orders`` is the account's open order count and ``duplicate``
        whether its cl_ord_id is already open: the engine knows those. Checks
        run in the rulebook's order and the first failure is the answer; a
        refused order changes nothing. With ``take`` the hold is also taken
        (as :meth:`reserve` would), for callers with no check left to make.
        """
        acct = self.accounts.get(c.account)
        if acct is None:
            return "unknown_account", f"account {c.account!r}: not known"
        if not acct.trading:
            why = "kill switch on" if acct.killed else "trading disabled"
            return "account_disabled", f"account {c.account!r}: {why}"
        m = self.markets[c.symbol]
        qty = c.qty
        if qty > m.qty_max:
            return "invalid_arguments", f"order_qty {qty}: above qty_max {m.qty_max}"
        if qty < m.qty_min:
            return "order_minimum", f"order_qty {qty}: below qty_min {m.qty_min}"
        buy = c.side == "buy"
        price = c.price
        market = c.order_type in MARKET_KINDS
        if market and m.high is None:
            # With no reference a market order has neither a cost nor a cap.
            return "price_band", "limit_price: no reference price to cap a market order"
        num = m.num
        den = m.den
        if c.cash_qty is not None:
            # A cash-sized buy is worth what it may spend, in quote units.
            worth, num, den = c.cash_qty, 1, 1
        else:
            # A market order's cost is judged at the reference price.
            worth = (m.reference if market or price is None else price) * qty
        if m.cost_min and worth * num < m.cost_min * den:
            return "cost_minimum", f"order cost below cost_min {m.cost_min}"
        if market:
            cap = m.high if buy else m.low
            assert cap is not None
            if price is None or (price > cap if buy else price < cap):
                price = cap
            order.price = price
        elif c.order_type not in STOP_KINDS:
            # The band binds the aggressive side only; a stop is checked when
            # it triggers and enters the book.
            assert price is not None
            if buy:
                if m.high is not None and price > m.high:
                    return "price_band", f"limit_price {price}: above the band edge {m.high}"
            elif m.low is not None and price < m.low:
                return "price_band", f"limit_price {price}: below the band edge {m.low}"
        assert price is not None
        limit = acct.max_order_notional
        if limit is not None and worth * num * m.div > limit * den:
            return "max_notional", f"order notional above the account limit {limit}"
        num = m.num
        den = m.den
        if open_orders >= acct.max_open_orders:
            return "orders_limit", f"open orders: at the limit of {acct.max_open_orders}"
        if duplicate:
            return "duplicate_cl_ord_id", f"cl_ord_id {c.cl_ord_id!r}: already open"
        if buy:
            if c.cash_qty is not None:
                hold = c.cash_qty
            else:
                # Pair.buy_hold for an order with no fills yet, inlined.
                hold = -(-(price * qty * (BPS + acct.max_bps) * num) // (den * BPS))
            i = m.qi
        else:
            hold = qty * m.lot_units
            i = m.bi
        funds = acct.funds
        now = funds[i + 1]
        if funds[i] - now < hold:
            asset = m.quote if buy else m.base
            return "insufficient_funds", f"{asset}: available below the {hold} needed"
        order.hold = hold
        if take:
            funds[i + 1] = now + hold
        return None

    def band_check(self, symbol: str, side: str, price: int) -> Reject | None:
        """Refuse an aggressive limit beyond the band (buy above it, sell below it)."""
        m = self.markets[symbol]
        if side == "buy" and m.high is not None and price > m.high:
            return "price_band", f"limit_price {price}: above the band edge {m.high}"
        if side == "sell" and m.low is not None and price < m.low:
            return "price_band", f"limit_price {price}: below the band edge {m.low}"
        return None

    def cap_market(self, order: Order) -> None:
        """Tighten a triggered market stop's protection price to the band now."""
        m = self.markets[order.symbol]
        if order.side == "buy" and m.high is not None:
            order.price = min(order.price, m.high)
        elif order.side == "sell" and m.low is not None:
            order.price = max(order.price, m.low)

    def reserve(self, order: Order) -> None:
        """Take the hold :meth:`admit` computed for ``order``."""
        m = self.markets[order.symbol]
        i = m.qi if order.side == "buy" else m.bi
        self.accounts[order.account].funds[i + 1] += order.hold

    def release(self, order: Order) -> None:
        """Give back everything ``order`` still holds (it is closing)."""
        hold = order.hold
        if hold:
            m = self.markets[order.symbol]
            i = m.qi if order.side == "buy" else m.bi
            self.accounts[order.account].funds[i + 1] -= hold
            order.hold = 0

    def check_amend(self, order: Order, qty: int, price: int) -> Reject | None:
        """The size, cost, band and notional checks of a new order, for an amended one.

        ``qty`` is the new total quantity and ``price`` the new limit (or a
        market stop's protection price). Funds are :meth:`rehold`'s part.
        """
        m = self.markets[order.symbol]
        if qty > m.qty_max:
            return "invalid_arguments", f"order_qty {qty}: above qty_max {m.qty_max}"
        if qty < m.qty_min:
            return "order_minimum", f"order_qty {qty}: below qty_min {m.qty_min}"
        market = order.order_type in MARKET_KINDS
        worth = (m.reference if market else price) * qty
        if m.cost_min and worth * m.num < m.cost_min * m.den:
            return "cost_minimum", f"order cost below cost_min {m.cost_min}"
        if not market and not order.stop and price != order.price:
            band = self.band_check(order.symbol, order.side, price)
            if band is not None:
                return band
        limit = self.accounts[order.account].max_order_notional
        if limit is not None and worth * m.num * m.div > limit * m.den:
            return "max_notional", f"order notional above the account limit {limit}"
        return None

    def rehold(self, order: Order, limit: int, remaining: int) -> Reject | None:
        """Re-size an amended order's hold for a new limit and remaining quantity.

        All or nothing: if the account cannot fund the larger hold, nothing
        changes and the refusal is returned.
        """
        m = self.markets[order.symbol]
        acct = self.accounts[order.account]
        if order.side == "buy":
            new = m.pair.buy_hold(order.cost, order.fee, limit, remaining, acct.max_bps)
            i, asset = m.qi, m.quote
        else:
            new = remaining * m.lot_units
            i, asset = m.bi, m.base
        more = new - order.hold
        funds = acct.funds
        if more > 0 and funds[i] - funds[i + 1] < more:
            return "insufficient_funds", f"{asset}: available below the {more} more needed"
        funds[i + 1] += more
        order.hold = new
        return None

    def fill(
        self, taker: Order, maker: Order, price: int, qty: int, taker_left: int
    ) -> tuple[int, int, int]:
        """Settle one trade of ``qty`` lots at ``price``; return (quote, taker fee, maker fee).

        ``quote`` is what moves from buyer to seller; each side's fee is what
        moved from it to the fee account for this fill (cumulative rounding
        can make one of them -1 on a fill; the fee account never goes
        negative). ``taker_left`` is what the taker has left after this fill;
        the maker's quantities must already reflect it.

        The arithmetic is :class:`~risk.money.Pair`'s (paid, notional_paid,
        received, buy_hold), inlined: this runs for every fill.
        """
        m = self.markets[taker.symbol]
        accounts = self.accounts
        tacct = accounts[taker.account]
        macct = accounts[maker.account]
        if taker.side == "buy":
            buyer, bacct, bbps, left = taker, tacct, tacct.taker_bps, taker_left
            seller, sacct, sbps = maker, macct, macct.maker_bps
        else:
            buyer, bacct, bbps = maker, macct, macct.maker_bps
            left = maker.shown + maker.hidden
            seller, sacct, sbps = taker, tacct, tacct.taker_bps
        num, den = m.num, m.den
        scale = den * BPS
        worth = price * qty
        qi, bi = m.qi, m.bi
        # Buyer: pays the rounded-up cumulative total; its hold shrinks to
        # what its rest can still cost.
        cost = buyer.cost + worth
        fee = buyer.fee + worth * bbps
        buyer.cost, buyer.fee = cost, fee
        total = -(-((cost * BPS + fee) * num) // scale)
        paid = total - buyer.paid
        buyer.paid = total
        notional = -(-(cost * num) // den)
        quote = notional - buyer.notional
        buyer.notional = notional
        if buyer.cash_qty:
            hold = buyer.hold - paid  # a budget, not a price x qty hold
        else:
            rest = buyer.price * left
            worst = -(-(((cost + rest) * BPS + fee + rest * bacct.max_bps) * num) // scale)
            hold = worst - total
        f = bacct.funds
        f[qi] -= paid
        f[qi + 1] -= buyer.hold - hold
        buyer.hold = hold
        units = qty * m.lot_units
        f[bi] += units
        # Seller: receives the rounded-down cumulative net; its base hold
        # shrinks by what it delivered.
        cost = seller.cost + worth
        fee = seller.fee + worth * sbps
        seller.cost, seller.fee = cost, fee
        total = ((cost * BPS - fee) * num) // scale
        got = total - seller.paid
        seller.paid = total
        f = sacct.funds
        f[bi] -= units
        f[bi + 1] -= units
        seller.hold -= units
        f[qi] += got
        accounts[self.fee_account].funds[qi] += paid - got
        if taker is buyer:
            return quote, paid - quote, quote - got
        return quote, quote - got, paid - quote

    def affordable(self, order: Order, fills: list[tuple[int, int]]) -> int:
        """How many lots of ``fills`` (price, lots) a cash-sized market buy can pay for.

        Walks the fills in order and stops at the first lot whose rounded-up
        total, fees included, would pass the order's budget.
        """
        m = self.markets[order.symbol]
        bps = self.accounts[order.account].taker_bps
        budget = order.cash_qty
        cost = fee = 0
        lots = 0
        for price, qty in fills:
            # Largest q with paid(cost + p*q, fee + p*q*bps) <= budget.
            room = budget * m.den * BPS - (cost * BPS + fee) * m.num
            q = min(qty, room // (price * (BPS + bps) * m.num)) if room > 0 else 0
            lots += q
            cost += price * q
            fee += price * q * bps
            if q < qty:
                break
        return lots

    # ------------------------------------------------------------- operator

    def deposit(self, account: str, asset: str, amount: int) -> Reject | None:
        """Credit ``amount`` units of ``asset``; refuse unknown accounts or assets."""
        reject = self._funding_target(account, asset, amount)
        if reject is not None:
            return reject
        acct = self.accounts[account]
        i = acct.slot(asset)
        if acct.funds[i] + amount > MAX_UNITS or self.net_in[asset] + amount > MAX_UNITS:
            return "invalid_arguments", f"amount {amount}: balances are at most {MAX_UNITS} units"
        acct.funds[i] += amount
        self.net_in[asset] += amount
        return None

    def withdraw(self, account: str, asset: str, amount: int, reserve: int = 0) -> Reject | None:
        """Debit ``amount`` units of ``asset``; held funds cannot be withdrawn.

        ``reserve`` more units must stay: the fee account keeps what open
        orders' cumulative rounding may still take back (see the engine).
        """
        reject = self._funding_target(account, asset, amount)
        if reject is not None:
            return reject
        acct = self.accounts[account]
        available = acct.available(asset) - reserve
        if available < amount:
            return "insufficient_funds", f"amount {amount}: above the available {available}"
        acct.funds[acct.slot(asset)] -= amount
        self.net_in[asset] -= amount
        return None

    def rebase_fits(self, asset: str, num: int, den: int) -> bool:
        """Whether every balance of ``asset`` times ``num / den``, and their total, stay
        within :data:`MAX_UNITS` (holds aside: see :meth:`rebase`)."""
        total = 0
        for acct in self.accounts.values():
            after = acct.funds[acct.slot(asset)] * num // den
            total += after
            if after > MAX_UNITS or total > MAX_UNITS:
                return False
        return True

    def rebase(self, asset: str, num: int, den: int) -> tuple[list[tuple[str, int, int]], int]:
        """Multiply every balance of ``asset`` by ``num / den``, each rounded down to the unit.

        Returns ``(account, before, after)`` for each balance that changed, in
        account id order, and the rounding dust over all of them as a
        numerator over ``den``. Holds stay as they are: the caller cancels the
        orders holding ``asset`` first, or the ratio is at least 1. Refuses
        (ValueError, nothing changed) if a balance would pass :data:`MAX_UNITS`
        or fall below what is held.
        """
        if not self.rebase_fits(asset, num, den):
            raise ValueError(
                f"{asset}: a balance or the total after {num}/{den} passes {MAX_UNITS}"
            )
        accounts = sorted(self.accounts.values(), key=lambda a: a.id)
        plan: list[tuple[Account, int, int, int]] = []
        dust = 0
        total = 0
        for acct in accounts:
            i = acct.slot(asset)
            before = acct.funds[i]
            after, rest = divmod(before * num, den)
            if after < acct.funds[i + 1]:
                raise ValueError(f"{acct.id} {asset}: {before} x {num}/{den} does not fit")
            dust += rest
            total += after
            if after != before:
                plan.append((acct, i, before, after))
        for acct, i, _, after in plan:
            acct.funds[i] = after
        self.net_in[asset] = total
        return [(acct.id, before, after) for acct, _, before, after in plan], dust

    def _funding_target(self, account: str, asset: str, amount: int) -> Reject | None:
        if account not in self.accounts:
            return "unknown_account", f"account {account!r}: not known"
        if asset not in self.assets:
            return "invalid_arguments", f"asset {asset!r}: not known"
        if amount <= 0:
            return "invalid_arguments", f"amount {amount}: must be positive"
        return None

    # ----------------------------------------------------------------- state

    def canonical_state(self) -> list[object]:
        """Balances, holds and controls of every account, and the references, as plain data."""
        accounts = [
            [
                a.id,
                sorted((k, v) for k, v in a.balance.items() if v),
                sorted((k, v) for k, v in a.held.items() if v),
                a.killed,
                a.dms_deadline,
            ]
            for a in sorted(self.accounts.values(), key=lambda a: a.id)
        ]
        references = sorted((s, m.reference, m.band_bps, m.div) for s, m in self.markets.items())
        return [accounts, references, sorted(self.net_in.items())]

    def check_invariants(self, orders: Iterable[Order]) -> None:
        """Assets conserved, holds equal open orders' needs, nothing negative.

        Raises :class:`RiskInvariantError`.
        """
        for n, asset in enumerate(self.assets):
            total = sum(a.funds[2 * n] for a in self.accounts.values())
            if total != self.net_in[asset]:
                raise RiskInvariantError(
                    f"{asset}: balances {total} != net deposits {self.net_in[asset]}"
                )
        needs: dict[tuple[str, str], int] = {}
        for order in orders:
            if order.hold < 0:
                raise RiskInvariantError(f"order {order.order_id}: negative hold {order.hold}")
            m = self.markets[order.symbol]
            asset = m.quote if order.side == "buy" else m.base
            key = (order.account, asset)
            needs[key] = needs.get(key, 0) + order.hold
        for acct in self.accounts.values():
            funds = acct.funds
            for n, asset in enumerate(self.assets):
                balance, held = funds[2 * n], funds[2 * n + 1]
                need = needs.get((acct.id, asset), 0)
                if held != need:
                    raise RiskInvariantError(f"{acct.id} {asset}: held {held} != orders' {need}")
                if balance < 0 or balance < held:
                    raise RiskInvariantError(f"{acct.id} {asset}: negative balance or available")


if COMPILED and not TYPE_CHECKING:
    # The compiled build's per-order steps (risk/_fast.pyx): the same
    # arithmetic on the typed order record.
    from risk import _fast

    Risk.admit = _fast.admit  # type: ignore[method-assign]
    Risk.reserve = _fast.reserve  # type: ignore[method-assign]
    Risk.release = _fast.release  # type: ignore[method-assign]
    Risk.fill = _fast.fill  # type: ignore[method-assign]
