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

from engine.commands import MARKET_KINDS, STOP_KINDS, NewOrder
from engine.instrument import Instrument
from engine.order import Order

from risk.accounts import Account, AccountSpec
from risk.money import BPS, Asset, Pair, ceil_div

__all__ = ["TIER_BAND_BPS", "Reject", "Risk", "RiskInvariantError"]

# Price band half-width per instrument tier, in basis points of the reference.
TIER_BAND_BPS = {1: 500, 2: 1_000}

Reject = tuple[str, str]
"""A refusal: (reason word, text naming the field, value and rule)."""


class RiskInvariantError(AssertionError):
    """Balances or holds broke an invariant: a bug, never a user error."""


class Risk:
    """Accounts, balances and holds, and the checks every order passes."""

    __slots__ = (
        "accounts",
        "assets",
        "band_bps",
        "bands",
        "fee_account",
        "instruments",
        "net_in",
        "pairs",
        "references",
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
        self.pairs = {
            s: Pair.of(i, self.assets[i.base], self.assets[i.quote])
            for s, i in self.instruments.items()
        }
        self.accounts: dict[str, Account] = {}
        for spec in accounts:
            self.accounts[spec.id] = Account(spec)
        # The fee account collects fees and rounding; it has no orders.
        self.fee_account = fee_account
        self.accounts.setdefault(fee_account, Account(AccountSpec(id=fee_account, enabled=False)))
        self.net_in: dict[str, int] = dict.fromkeys(self.assets, 0)
        self.band_bps = {s: TIER_BAND_BPS[i.tier] for s, i in self.instruments.items()}
        self.references: dict[str, int] = {}
        self.bands: dict[str, tuple[int, int]] = {}
        for symbol, inst in self.instruments.items():
            self.set_reference(symbol, inst.reference_price)

    # ------------------------------------------------------------ reference

    def set_reference(self, symbol: str, price: int) -> None:
        """Set the reference price (ticks, 0: none) and the band edges it implies.

        The edges are rounded inward to the tick, so an order at an edge is
        inside the band.
        """
        self.references[symbol] = price
        if price <= 0:
            self.bands.pop(symbol, None)
            return
        bps = self.band_bps[symbol]
        low = ceil_div(price * (BPS - bps), BPS)
        high = price * (BPS + bps) // BPS
        self.bands[symbol] = (low, high)

    # --------------------------------------------------------------- orders

    def admit(self, c: NewOrder, order: Order, open_orders: int, duplicate: bool) -> Reject | None:
        """Check a new order; on success set ``order.hold`` (and a market's cap), hold nothing.

        ``open_orders`` is the account's open order count and ``duplicate``
        whether its cl_ord_id is already open: the engine knows those. Checks
        run in the rulebook's order and the first failure is the answer.
        """
        acct = self.accounts.get(c.account)
        if acct is None or acct.id == self.fee_account:
            return "unknown_account", f"account {c.account!r}: not known"
        if not acct.enabled or acct.killed:
            why = "kill switch on" if acct.killed else "trading disabled"
            return "account_disabled", f"account {c.account!r}: {why}"
        inst = self.instruments[c.symbol]
        qty = c.qty
        if qty > inst.qty_max:
            return "invalid_arguments", f"order_qty {qty}: above qty_max {inst.qty_max}"
        if qty < inst.qty_min:
            return "order_minimum", f"order_qty {qty}: below qty_min {inst.qty_min}"
        pair = self.pairs[c.symbol]
        kind = c.order_type
        market = kind in MARKET_KINDS
        reference = self.references[c.symbol]
        price = c.price
        if market:
            band = self.bands.get(c.symbol)
            if band is None:
                return "price_band", "limit_price: no reference price to cap a market order"
            cap = band[1] if c.side == "buy" else band[0]
            if price is None or (price > cap if c.side == "buy" else price < cap):
                price = cap
            order.price = price
            worth = reference * qty
        else:
            assert price is not None
            worth = price * qty
            if kind not in STOP_KINDS:
                reject = self.band_check(c.symbol, c.side, price)
                if reject is not None:
                    return reject
        if inst.cost_min and not pair.notional_at_least(worth, inst.cost_min):
            return "cost_minimum", f"order cost below cost_min {inst.cost_min}"
        limit = acct.max_order_notional
        if limit is not None and pair.notional_above(worth, limit):
            return "max_notional", f"order notional above the account limit {limit}"
        if open_orders >= acct.max_open_orders:
            return "orders_limit", f"open orders: at the limit of {acct.max_open_orders}"
        if duplicate:
            return "duplicate_cl_ord_id", f"cl_ord_id {c.cl_ord_id!r}: already open"
        if c.side == "buy":
            if c.cash_qty is not None:
                hold = c.cash_qty
            else:
                hold = pair.buy_hold(0, 0, price, qty, acct.max_bps)
            asset = pair.quote
        else:
            hold = qty * pair.lot_units
            asset = pair.base
        if acct.balance.get(asset, 0) - acct.held.get(asset, 0) < hold:
            return "insufficient_funds", f"{asset}: available below the {hold} needed"
        order.hold = hold
        return None

    def band_check(self, symbol: str, side: str, price: int) -> Reject | None:
        """Refuse an aggressive limit beyond the band (buy above it, sell below it)."""
        band = self.bands.get(symbol)
        if band is None:
            return None
        if side == "buy" and price > band[1]:
            return "price_band", f"limit_price {price}: above the band edge {band[1]}"
        if side == "sell" and price < band[0]:
            return "price_band", f"limit_price {price}: below the band edge {band[0]}"
        return None

    def cap_market(self, order: Order) -> None:
        """Tighten a triggered market stop's protection price to the band now."""
        band = self.bands.get(order.symbol)
        if band is None:
            return
        if order.side == "buy":
            order.price = min(order.price, band[1])
        else:
            order.price = max(order.price, band[0])

    def reserve(self, order: Order) -> None:
        """Take the hold :meth:`admit` computed for ``order``."""
        pair = self.pairs[order.symbol]
        asset = pair.quote if order.side == "buy" else pair.base
        held = self.accounts[order.account].held
        held[asset] = held.get(asset, 0) + order.hold

    def release(self, order: Order) -> None:
        """Give back everything ``order`` still holds (it is closing)."""
        hold = order.hold
        if hold:
            pair = self.pairs[order.symbol]
            asset = pair.quote if order.side == "buy" else pair.base
            self.accounts[order.account].held[asset] -= hold
            order.hold = 0

    def rehold(self, order: Order, limit: int, remaining: int) -> Reject | None:
        """Re-size an amended order's hold for a new limit and remaining quantity.

        All or nothing: if the account cannot fund the larger hold, nothing
        changes and the refusal is returned.
        """
        pair = self.pairs[order.symbol]
        acct = self.accounts[order.account]
        if order.side == "buy":
            new = pair.buy_hold(order.cost, order.fee, limit, remaining, acct.max_bps)
            asset = pair.quote
        else:
            new = remaining * pair.lot_units
            asset = pair.base
        more = new - order.hold
        if more > 0 and acct.balance.get(asset, 0) - acct.held.get(asset, 0) < more:
            return "insufficient_funds", f"{asset}: available below the {more} more needed"
        acct.held[asset] = acct.held.get(asset, 0) + more
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
        """
        pair = self.pairs[taker.symbol]
        accounts = self.accounts
        tacct = accounts[taker.account]
        macct = accounts[maker.account]
        if taker.side == "buy":
            buyer, bacct, bbps = taker, tacct, tacct.taker_bps
            seller, sacct, sbps = maker, macct, macct.maker_bps
        else:
            buyer, bacct, bbps = maker, macct, macct.maker_bps
            seller, sacct, sbps = taker, tacct, tacct.taker_bps
        worth = price * qty
        quote_id, base_id = pair.quote, pair.base
        # Buyer: pays the rounded-up cumulative total; its hold shrinks to
        # what its rest can still cost.
        cost, fee = buyer.cost, buyer.fee
        paid_before = pair.paid(cost, fee)
        notional_before = pair.notional_paid(cost)
        cost += worth
        fee += worth * bbps
        buyer.cost, buyer.fee = cost, fee
        paid = pair.paid(cost, fee) - paid_before
        quote = pair.notional_paid(cost) - notional_before
        if buyer.cash_qty:
            hold = buyer.hold - paid  # a budget, not a price x qty hold
        else:
            left = taker_left if buyer is taker else buyer.shown + buyer.hidden
            hold = pair.buy_hold(cost, fee, buyer.price, left, bacct.max_bps)
        bal, held = bacct.balance, bacct.held
        bal[quote_id] -= paid
        held[quote_id] -= buyer.hold - hold
        buyer.hold = hold
        units = qty * pair.lot_units
        bal[base_id] = bal.get(base_id, 0) + units
        # Seller: receives the rounded-down cumulative net; its base hold
        # shrinks by what it delivered.
        cost, fee = seller.cost, seller.fee
        got_before = pair.received(cost, fee)
        cost += worth
        fee += worth * sbps
        seller.cost, seller.fee = cost, fee
        got = pair.received(cost, fee) - got_before
        bal, held = sacct.balance, sacct.held
        bal[base_id] -= units
        held[base_id] -= units
        seller.hold -= units
        bal[quote_id] = bal.get(quote_id, 0) + got
        fees = accounts[self.fee_account].balance
        fees[quote_id] = fees.get(quote_id, 0) + paid - got
        buyer_fee = paid - quote
        seller_fee = quote - got
        if taker is buyer:
            return quote, buyer_fee, seller_fee
        return quote, seller_fee, buyer_fee

    def affordable(self, order: Order, fills: list[tuple[int, int]]) -> int:
        """How many lots of ``fills`` (price, lots) a cash-sized market buy can pay for.

        Walks the fills in order and stops at the first lot whose rounded-up
        total, fees included, would pass the order's budget.
        """
        pair = self.pairs[order.symbol]
        bps = self.accounts[order.account].taker_bps
        budget = order.cash_qty
        cost = fee = 0
        lots = 0
        for price, qty in fills:
            # Largest q with paid(cost + p*q, fee + p*q*bps) <= budget.
            room = budget * pair.den * BPS - (cost * BPS + fee) * pair.num
            q = min(qty, room // (price * (BPS + bps) * pair.num)) if room > 0 else 0
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
        bal = self.accounts[account].balance
        bal[asset] = bal.get(asset, 0) + amount
        self.net_in[asset] += amount
        return None

    def withdraw(self, account: str, asset: str, amount: int) -> Reject | None:
        """Debit ``amount`` units of ``asset``; held funds cannot be withdrawn."""
        reject = self._funding_target(account, asset, amount)
        if reject is not None:
            return reject
        acct = self.accounts[account]
        if acct.available(asset) < amount:
            return (
                "insufficient_funds",
                f"amount {amount}: above the available {acct.available(asset)}",
            )
        acct.balance[asset] -= amount
        self.net_in[asset] -= amount
        return None

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
                sorted(a.balance.items()),
                sorted((k, v) for k, v in a.held.items() if v),
                a.killed,
                a.dms_deadline,
            ]
            for a in sorted(self.accounts.values(), key=lambda a: a.id)
        ]
        return [accounts, sorted(self.references.items()), sorted(self.net_in.items())]

    def check_invariants(self, orders: Iterable[Order]) -> None:
        """Assets conserved, holds equal open orders' needs, nothing negative.

        Raises :class:`RiskInvariantError`.
        """
        for asset in self.assets:
            total = sum(a.balance.get(asset, 0) for a in self.accounts.values())
            if total != self.net_in[asset]:
                raise RiskInvariantError(
                    f"{asset}: balances {total} != net deposits {self.net_in[asset]}"
                )
        needs: dict[tuple[str, str], int] = {}
        for order in orders:
            if order.hold < 0:
                raise RiskInvariantError(f"order {order.order_id}: negative hold {order.hold}")
            pair = self.pairs[order.symbol]
            asset = pair.quote if order.side == "buy" else pair.base
            key = (order.account, asset)
            needs[key] = needs.get(key, 0) + order.hold
        for acct in self.accounts.values():
            for asset in self.assets:
                held = acct.held.get(asset, 0)
                need = needs.get((acct.id, asset), 0)
                if held != need:
                    raise RiskInvariantError(f"{acct.id} {asset}: held {held} != orders' {need}")
                if acct.balance.get(asset, 0) < 0 or acct.available(asset) < 0:
                    raise RiskInvariantError(f"{acct.id} {asset}: negative balance or available")
