"""Golden event streams with pre-trade risk: fees, holds and cumulative rounding.

Each scenario drives a fresh engine with risk (accounts on 10 bps maker / 25
bps taker, the fee account ``fees``) through :class:`tests.builders.Driver`
(seq 1, 2, 3..., ts = seq * 1000, invariants (conservation of every asset,
holds equal open orders' needs) checked after every command) and asserts the
complete list of events of every command.

The money on each fill (quote amount, taker fee, maker fee) is written out
literally and also recomputed by :class:`Ledger`, an independent exact model
of MARKET_RULES.md section 6: per order, the exact totals in
:class:`fractions.Fraction`, a buy's paid total rounded up, its notional
rounded up, a sell's net rounded down; each fill moves the difference. On
the test instrument one tick x one lot ($0.01 x 0.0001 share) is 1/10000 of
a cent.
"""

from __future__ import annotations

import math
from fractions import Fraction

from engine.events import FundsDeposited, TradeExecuted
from risk.risk import Risk
from tests.builders import SYMBOL, Driver, instrument, risk_for
from tests.golden.test_matching_golden import Party, accepted, amended, cancelled, ts

S = SYMBOL
BPS = 10_000
MAKER, TAKER = 10, 25
LOT = 10**4  # AAPLx units in one lot
REF = 23_000  # $230.00: band 21850 to 24150


class Ledger:
    """Exact cumulative totals per order; what each fill moves, rounded in the venue's favour."""

    def __init__(self) -> None:
        self.buys: dict[int, tuple[Fraction, Fraction]] = {}  # total due, notional
        self.sells: dict[int, Fraction] = {}  # net due

    def fill(
        self, buy: int, sell: int, price: int, qty: int, buy_bps: int, sell_bps: int
    ) -> tuple[int, int, int]:
        """(quote, buyer's fee, seller's fee) of one fill between two orders."""
        worth = Fraction(price * qty, BPS)  # cents
        total, notional = self.buys.get(buy, (Fraction(0), Fraction(0)))
        net = self.sells.get(sell, Fraction(0))
        new_total = total + worth * (BPS + buy_bps) / BPS
        new_notional = notional + worth
        new_net = net + worth * (BPS - sell_bps) / BPS
        self.buys[buy] = (new_total, new_notional)
        self.sells[sell] = new_net
        paid = math.ceil(new_total) - math.ceil(total)
        quote = math.ceil(new_notional) - math.ceil(notional)
        got = math.floor(new_net) - math.floor(net)
        return quote, paid - quote, quote - got


def fill(
    seq: int,
    trade_id: int,
    price: int,
    qty: int,
    side: str,
    taker: Party,
    maker: Party,
    money: tuple[int, int, int],
) -> TradeExecuted:
    """A trade with its money: (quote, taker fee, maker fee)."""
    return TradeExecuted(seq, ts(seq), trade_id, S, price, qty, side, *taker, *maker, *money)


def deposited(seq: int, account: str, asset: str, amount: int, balance: int) -> FundsDeposited:
    return FundsDeposited(seq, ts(seq), account, asset, amount, balance)


def make(accounts: tuple[str, ...] = ("a", "b", "c"), reference: int = REF) -> Driver:
    inst = {"reference_price": reference}
    return Driver(risk=risk_for([instrument(**inst)], accounts), **inst)


def money(d: Driver) -> Risk:
    assert d.engine.risk is not None
    return d.engine.risk


def balances(d: Driver, asset: str = "USD") -> dict[str, int]:
    """Every account's balance in ``asset``, zeros left out."""
    return {a.id: a.balance[asset] for a in money(d).accounts.values() if a.balance.get(asset)}


def holds(d: Driver) -> dict[tuple[str, str], int]:
    return {
        (a.id, asset): v for a in money(d).accounts.values() for asset, v in a.held.items() if v
    }


# ------------------------------------------------------------------ fees, price improvement


def test_fills_with_fees_and_price_improvement() -> None:
    d = make()
    ledger = Ledger()
    assert d.deposit("a", "USD", 1_000_000) == [deposited(1, "a", "USD", 1_000_000, 1_000_000)]
    assert d.deposit("b", "AAPLx", 10 * 10**8) == [
        deposited(2, "b", "AAPLx", 10 * 10**8, 10 * 10**8)
    ]
    assert d.deposit("c", "AAPLx", 10**8) == [deposited(3, "c", "AAPLx", 10**8, 10**8)]
    assert d.new("b", "sell", 5_000, 23_000) == [accepted(4, "b", "sell", 5_000, 23_000)]
    assert holds(d) == {("b", "AAPLx"): 5_000 * LOT}

    # a buys 3333 lots limited at $230.10 and gets them at $230.00: $766.59 of notional,
    # 7685.06 cents with the 25 bps taker fee (7686 paid), 7658.23 for b net of 10 bps.
    # It held 7689 at its limit; the 3 cents of price improvement go back.
    trade1 = (7_666, 20, 8)
    assert ledger.fill(5, 4, 23_000, 3_333, TAKER, MAKER) == trade1
    assert d.new("a", "buy", 3_333, 23_010) == [
        accepted(5, "a", "buy", 3_333, 23_010),
        fill(5, 1, 23_000, 3_333, "buy", (5, "a", 0), (4, "b", 1_667), trade1),
    ]
    assert balances(d) == {"a": 992_314, "b": 7_658, "fees": 28}
    assert holds(d) == {("b", "AAPLx"): 1_667 * LOT}

    # A second buy takes the rest of b's order; b's order rounds cumulatively:
    # 11500 cents x 0.999 = 11488.5 -> 11488 in all, 3830 on this fill.
    trade2 = (3_835, 9, 5)
    assert ledger.fill(6, 4, 23_000, 1_667, TAKER, MAKER) == trade2
    assert d.new("a", "buy", 2_000, 23_005) == [
        accepted(6, "a", "buy", 2_000, 23_005),
        fill(6, 2, 23_000, 1_667, "buy", (6, "a", 333), (4, "b", 0), trade2),
    ]
    # What a's resting 333 lots can still cost at its limit, on top of what it paid.
    paid = math.ceil(Fraction(23_000 * 1_667, BPS) * Fraction(BPS + TAKER, BPS))
    worst = math.ceil(
        Fraction(23_000 * 1_667, BPS) * Fraction(BPS + TAKER, BPS)
        + Fraction(23_005 * 333, BPS) * Fraction(BPS + TAKER, BPS)
    )
    assert (paid, worst - paid) == (3_844, 768)
    assert holds(d) == {("a", "USD"): 768}
    assert balances(d) == {"a": 992_314 - 3_844, "b": 7_658 + 3_830, "fees": 28 + 14}

    # c sells into a's bid at $230.05 (price improvement for c, none for a): a is the maker now.
    money3 = ledger.fill(6, 7, 23_005, 333, MAKER, TAKER)
    assert money3 == (766, 1, 2)  # (quote, buyer a's fee, seller c's fee)
    assert d.new("c", "sell", 333, 23_000) == [
        accepted(7, "c", "sell", 333, 23_000),
        fill(7, 3, 23_005, 333, "sell", (7, "c", 0), (6, "a", 0), (766, 2, 1)),
    ]
    assert holds(d) == {}
    assert balances(d) == {"a": 987_703, "b": 11_488, "c": 764, "fees": 45}
    assert sum(balances(d).values()) == 1_000_000
    assert balances(d, "AAPLx") == {
        "a": 5_333 * LOT,
        "b": 10 * 10**8 - 5_000 * LOT,
        "c": 10**8 - 333 * LOT,
    }


# ------------------------------------------------------------------ cumulative rounding


def test_one_buy_across_several_sells_rounds_cumulatively() -> None:
    d = make()
    ledger = Ledger()
    # Three lots at $230.00 cost 6.9 cents, 6.91725 with fees: a holds (and has) 7 cents.
    assert math.ceil(Fraction(3 * 23_000, BPS) * Fraction(BPS + TAKER, BPS)) == 7
    d.deposit("a", "USD", 7)
    d.deposit("b", "AAPLx", 2 * LOT)
    d.deposit("c", "AAPLx", LOT)
    assert d.new("b", "sell", 1, 23_000) == [accepted(4, "b", "sell", 1, 23_000)]
    assert d.new("c", "sell", 1, 23_000) == [accepted(5, "c", "sell", 1, 23_000)]
    assert d.new("b", "sell", 1, 23_000) == [accepted(6, "b", "sell", 1, 23_000)]
    # Per fill, a's running total goes 2.30575 -> 3, 4.6115 -> 5, 6.91725 -> 7: it pays
    # 3, 2, 2 and its notional steps are the same, so its 25 bps fee is 0 on every fill
    # (a per-fill rounding would have charged it 9). Each seller nets 2.2977 -> 2.
    expected = [(3, 0, 1), (2, 0, 0), (2, 0, 0)]
    assert [ledger.fill(7, s, 23_000, 1, TAKER, MAKER) for s in (4, 5, 6)] == expected
    assert d.new("a", "buy", 3, 23_000) == [
        accepted(7, "a", "buy", 3, 23_000),
        fill(7, 1, 23_000, 1, "buy", (7, "a", 2), (4, "b", 0), expected[0]),
        fill(7, 2, 23_000, 1, "buy", (7, "a", 1), (5, "c", 0), expected[1]),
        fill(7, 3, 23_000, 1, "buy", (7, "a", 0), (6, "b", 0), expected[2]),
    ]
    assert balances(d) == {"b": 4, "c": 2, "fees": 1}
    assert balances(d, "AAPLx") == {"a": 3 * LOT}
    assert holds(d) == {}


def test_a_fee_of_minus_one_from_cumulative_rounding() -> None:
    d = make(("a", "b", "c", "d"), reference=5_000)  # $50.00: band 4750 to 5250
    ledger = Ledger()
    fees: list[int] = []

    def step(events: list[object]) -> list[object]:
        fees.append(balances(d).get("fees", 0))
        return events

    d.deposit("a", "USD", 100)
    d.deposit("c", "USD", 100)
    d.deposit("b", "AAPLx", 3 * LOT)
    d.deposit("d", "AAPLx", 2 * LOT)
    assert step(d.new("b", "sell", 3, 5_000)) == [accepted(5, "b", "sell", 3, 5_000)]
    # c buys 2 lots at $50.00 = 1 cent: pays 1.0025 -> 2; b nets 0.999 -> 0.
    first = (1, 1, 1)
    assert ledger.fill(6, 5, 5_000, 2, TAKER, MAKER) == first
    assert step(d.new("c", "buy", 2, 5_000)) == [
        accepted(6, "c", "buy", 2, 5_000),
        fill(6, 1, 5_000, 2, "buy", (6, "c", 0), (5, "b", 1), first),
    ]
    assert step(d.new("a", "buy", 3, 4_999)) == [accepted(7, "a", "buy", 3, 4_999)]
    # d sells 2 lots into a's bid at $49.99 = 0.9998 cents: a (maker) pays
    # 1.0007998 -> 2; d nets 0.99730... -> 0.
    second = (1, 1, 1)
    assert ledger.fill(7, 8, 4_999, 2, MAKER, TAKER) == second
    assert step(d.new("d", "sell", 2, 4_999)) == [
        accepted(8, "d", "sell", 2, 4_999),
        fill(8, 2, 4_999, 2, "sell", (8, "d", 0), (7, "a", 1), second),
    ]
    # a raises its bid to $50.00 and takes b's last lot. a's totals: paid 1.5020498 -> 2
    # (nothing more to pay) while its notional 1.4998 -> 2 moves by 1: its fee is -1.
    # b's net 1.4985 -> 1 moves by 1: its fee is 0. The fee account gives back one cent.
    third = (1, -1, 0)
    assert ledger.fill(7, 5, 5_000, 1, TAKER, MAKER) == third
    assert step(d.amend("a", order_id=7, price=5_000)) == [
        amended(9, 7, "a", 3, 5_000, 1, kept=False),
        fill(9, 3, 5_000, 1, "buy", (7, "a", 0), (5, "b", 0), third),
    ]
    assert fees == [0, 2, 2, 4, 3]
    assert min(fees) >= 0
    assert balances(d) == {"a": 98, "b": 1, "c": 98, "fees": 3}
    assert balances(d, "AAPLx") == {"a": 3 * LOT, "c": 2 * LOT}
    assert holds(d) == {}


# ------------------------------------------------------------------ market buys


def test_market_buy_sweep_capped_at_the_band() -> None:
    d = make()
    ledger = Ledger()
    d.deposit("a", "USD", 1_000_000)
    d.deposit("b", "AAPLx", 10**8)
    d.deposit("c", "AAPLx", 10**8)
    d.new("b", "sell", 1_000, 23_000)  # 4
    d.new("b", "sell", 500, 24_000)  # 5
    d.new("c", "sell", 500, 24_150)  # 6: the band's upper edge
    d.new("c", "sell", 1_000, 24_151)  # 7: one tick beyond it
    expected = [
        ledger.fill(8, 4, 23_000, 1_000, TAKER, MAKER),
        ledger.fill(8, 5, 24_000, 500, TAKER, MAKER),
        ledger.fill(8, 6, 24_150, 500, TAKER, MAKER),
    ]
    assert expected == [(2_300, 6, 3), (1_200, 3, 2), (1_208, 3, 2)]
    assert d.new("a", "buy", 3_000, None, order_type="market") == [
        accepted(8, "a", "buy", 3_000, None, order_type="market"),
        fill(8, 1, 23_000, 1_000, "buy", (8, "a", 2_000), (4, "b", 0), expected[0]),
        fill(8, 2, 24_000, 500, "buy", (8, "a", 1_500), (5, "b", 0), expected[1]),
        fill(8, 3, 24_150, 500, "buy", (8, "a", 1_000), (6, "c", 0), expected[2]),
        cancelled(8, 8, "a", 1_000, "price_band"),
    ]
    # a was held at the band edge for all 3000 lots; it paid for 2000 and got the rest back.
    paid = math.ceil(
        sum(Fraction(p * q, BPS) for p, q in [(23_000, 1_000), (24_000, 500), (24_150, 500)])
        * Fraction(BPS + TAKER, BPS)
    )
    assert paid == 4_720
    assert holds(d) == {("c", "AAPLx"): 1_000 * LOT}
    assert balances(d) == {"a": 1_000_000 - paid, "b": 2_297 + 1_198, "c": 1_206, "fees": 19}
    assert d.engine.books[S].depth() == ([], [(24_151, 1_000)])


def test_cash_qty_market_buy_spends_its_budget() -> None:
    d = make()
    ledger = Ledger()
    d.deposit("a", "USD", 1_000_000)
    d.deposit("b", "AAPLx", 10**8)
    d.deposit("c", "AAPLx", 10**8)
    d.new("b", "sell", 300, 23_000)  # 4
    d.new("c", "sell", 300, 23_100)  # 5
    # $10.00 to spend, fees included: 300 lots at $230.00 cost 691.725 cents; at $231.00 a lot
    # costs 2.315775, so 133 more fit (999.723075 in all, 1000 rounded up) and 134 do not.
    per_lot = Fraction(23_100, BPS) * Fraction(BPS + TAKER, BPS)
    spent = Fraction(300 * 23_000, BPS) * Fraction(BPS + TAKER, BPS)
    assert math.ceil(spent + 133 * per_lot) == 1_000 < math.ceil(spent + 134 * per_lot)
    expected = [
        ledger.fill(6, 4, 23_000, 300, TAKER, MAKER),
        ledger.fill(6, 5, 23_100, 133, TAKER, MAKER),
    ]
    # On the second fill the notional step (308) already covers the fee: the taker fee is 0.
    assert expected == [(690, 2, 1), (308, 0, 2)]
    # The budget affords 433 of the 10,000 lots asked: leaves count down from
    # 10,000 and the rest is cancelled when the money runs out, though
    # liquidity within the band remains (ioc_remainder, not price_band).
    assert d.new("a", "buy", 10_000, None, order_type="market", cash_qty=1_000) == [
        accepted(6, "a", "buy", 10_000, None, order_type="market", cash_qty=1_000),
        fill(6, 1, 23_000, 300, "buy", (6, "a", 9_700), (4, "b", 0), expected[0]),
        fill(6, 2, 23_100, 133, "buy", (6, "a", 9_567), (5, "c", 167), expected[1]),
        cancelled(6, 6, "a", 9_567, "ioc_remainder"),
    ]
    assert balances(d) == {"a": 1_000_000 - 1_000, "b": 689, "c": 306, "fees": 5}
    assert balances(d, "AAPLx")["a"] == 433 * LOT
    assert holds(d) == {("c", "AAPLx"): 167 * LOT}
