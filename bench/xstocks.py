"""The ``xstocks`` workload: a day's edge of a tokenized-stock venue, with its schedule.

60 instruments (``AAPLx/USD``...) whose popularity follows Zipf's law, 10,000
accounts, every order type and time in force, cancels, amends and replaces.
The run starts at 15:45 ET on a Monday and its clock moves so that the 16:00
close (regular to extended: limit orders only, wider bands) falls 40% of the
way in, whatever the number of commands (11.25 ms per command for 200,000);
the rolling reference and the volatility rules run in regular hours. A third of the way in the
operator halts the most popular instrument and resumes it a little later with
a 60-second call, which ends in an uncross (the halt lasts a thousandth of
the run). The sequencer's timers (phase
changes, the end of the call, expiries) are in the command stream at their
instants, as RunTimers.

The commands are generated against an oracle engine (the same code, run as
they are generated), so cancels and amends mostly name orders that are open
and prices follow each instrument's reference as it moves. Only the engine's
processing of the finished list is measured.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from engine.calendar import eastern_to_utc_ns
from engine.engine import Engine
from engine.events import OrderAccepted, OrderCancelled, OrderExpired, TradeExecuted
from engine.sessions import trading_day_end_ns
from model.commands import (
    AmendOrder,
    CancelOrder,
    Command,
    Halt,
    NewOrder,
    ReplaceOrder,
    Resume,
    RunTimers,
)
from model.instrument import Instrument
from risk.accounts import AccountSpec, FeeTier
from risk.money import Asset
from risk.risk import Risk

__all__ = ["START", "TICKERS", "xstocks"]

TICKERS = [
    "SPY",
    "NVDA",
    "AAPL",
    "MSFT",
    "TSLA",
    "AMZN",
    "META",
    "GOOGL",
    "QQQ",
    "AMD",
    "AVGO",
    "NFLX",
    "COIN",
    "MSTR",
    "PLTR",
    "JPM",
    "V",
    "MA",
    "UNH",
    "LLY",
    "XOM",
    "COST",
    "WMT",
    "HD",
    "PG",
    "JNJ",
    "ORCL",
    "CRM",
    "ADBE",
    "INTC",
    "CSCO",
    "PEP",
    "KO",
    "MRK",
    "ABBV",
    "BAC",
    "WFC",
    "DIS",
    "NKE",
    "MCD",
    "BA",
    "GS",
    "IBM",
    "QCOM",
    "TXN",
    "HOOD",
    "UBER",
    "SHOP",
    "PYPL",
    "SQ",
    "ABNB",
    "SNOW",
    "CRWD",
    "PANW",
    "NOW",
    "INTU",
    "GLD",
    "TLT",
    "IWM",
    "DIA",
]
START = eastern_to_utc_ns(date(2026, 11, 23), 15, 45)  # a Monday, regular hours
TO_CLOSE_NS = 15 * 60 * 10**9  # from the start to the 16:00 close
ACCOUNTS = 10_000
POOR_EVERY = 33  # thinly funded accounts: some orders fail the funds check on purpose
SHARES = 10**8  # units of one token share (precision 8)
LOT_UNITS = 10**6  # one lot is 0.01 share
_TIERS = (FeeTier("retail", 10, 25), FeeTier("maker", 0, 15))
_MIX = (  # (what, weight)
    ("limit", 40),
    ("ioc", 5),
    ("fok", 2),
    ("post_only", 5),
    ("gtd", 3),
    ("day", 3),
    ("iceberg", 4),
    ("market", 4),
    ("cash", 1),
    ("stop", 4),
    ("cancel", 18),
    ("amend", 8),
    ("replace", 3),
)


def _instruments(rng: random.Random) -> list[Instrument]:
    out = []
    for rank, ticker in enumerate(TICKERS):
        out.append(
            Instrument(
                symbol=f"{ticker}x/USD",
                base=f"{ticker}x",
                quote="USD",
                price_increment=Decimal("0.01"),
                qty_increment=Decimal("0.01"),
                qty_min=1,
                schedule="24/5" if rank % 4 == 3 else "24/7",
                tier=1 if rank < 30 else 2,
                reference_price=rng.randint(2_000, 90_000),  # $20 to $900
            )
        )
    return out


def _account(n: int) -> str:
    return f"u{n}"


def _engine(instruments: list[Instrument]) -> Engine:
    assets = [Asset("USD", 2)] + [Asset(i.base, 8) for i in instruments]
    specs = [
        AccountSpec(id=_account(n), fee_tier=_TIERS[n % 10 == 0]) for n in range(1, ACCOUNTS + 1)
    ]
    risk = Risk(assets, instruments, specs, fee_account="fees")
    for n in range(1, ACCOUNTS + 1):
        poor = n % POOR_EVERY == 0
        risk.deposit(_account(n), "USD", 10_000 if poor else 200_000_000)  # $100 or $2M
        for inst in instruments:
            risk.deposit(_account(n), inst.base, SHARES if poor else 50 * SHARES)
    return Engine(instruments, risk, START)


def xstocks(count: int, seed: int = 1) -> tuple[list[Command], Callable[[], Engine]]:
    """``count`` commands (RunTimers included) and a factory of fresh engines to run them."""
    rng = random.Random(seed)
    instruments = _instruments(rng)
    symbols = [i.symbol for i in instruments]
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(symbols))]
    oracle = _engine(instruments)
    risk = oracle.risk
    assert risk is not None
    cmds: list[Command] = []
    live: dict[int, tuple[str, str, str]] = {}  # order id -> (account, symbol, side)
    live_ids: list[int] = []
    kinds = [k for k, _ in _MIX]
    kind_weights = [w for _, w in _MIX]
    step = TO_CLOSE_NS * 10 // (4 * max(count, 1))  # the close at 40% of the run
    halt_at, resume_at = count // 3, count // 3 + max(1, count // 1_000)
    halted = resumed = False
    now = START

    def apply(c: Command) -> None:
        cmds.append(c)
        for ev in oracle.process(c):
            if isinstance(ev, OrderAccepted) and ev.order.tif not in ("ioc", "fok"):
                if ev.order.order_type != "market":
                    live[ev.order_id] = (ev.order.account, ev.order.symbol, ev.order.side)
                    live_ids.append(ev.order_id)
            elif isinstance(ev, TradeExecuted) and ev.maker_leaves == 0:
                live.pop(ev.maker_order_id, None)
            elif isinstance(ev, OrderCancelled | OrderExpired):
                live.pop(ev.order_id, None)

    def target() -> int | None:
        while live_ids:
            i = rng.randrange(len(live_ids))
            order_id = live_ids[i]
            if order_id in live and order_id in oracle.orders:
                return order_id
            live_ids[i] = live_ids[-1]
            live_ids.pop()
        return None

    def price(symbol: str, side: str, cross: bool) -> int:
        ref = risk.markets[symbol].reference or risk.instruments[symbol].reference_price
        tick = max(1, ref // 2_000)  # 0.05%
        offset = rng.randint(-2, 1) if cross else rng.randint(1, 40)
        return max(1, ref - offset * tick if side == "buy" else ref + offset * tick)

    while len(cmds) < count:
        now += step
        due = oracle.next_timer()
        while due is not None and due <= now and len(cmds) < count:
            apply(RunTimers(len(cmds) + 1, due))
            due = oracle.next_timer()
        seq = len(cmds) + 1
        if seq >= count + 1:
            break
        if not halted and seq >= halt_at:
            halted = True
            apply(Halt(seq, now, "ops", symbols[0], "news pending"))
            continue
        if not resumed and seq >= resume_at:
            resumed = True
            apply(Resume(seq, now, "ops", symbols[0], 60 * 10**9))
            continue
        kind = rng.choices(kinds, kind_weights)[0]
        account = _account(rng.randint(1, ACCOUNTS))
        symbol = rng.choices(symbols, weights)[0]
        side = "buy" if rng.random() < 0.5 else "sell"
        qty = rng.randint(1, 500)
        if kind in ("cancel", "amend", "replace"):
            order_id = target()
            if order_id is not None:
                owner, osym, oside = live[order_id]
                if kind == "cancel":
                    apply(CancelOrder(seq, now, owner, order_id))
                elif kind == "amend":
                    apply(AmendOrder(seq, now, owner, order_id, price=price(osym, oside, False)))
                else:
                    apply(
                        ReplaceOrder(
                            seq, now, owner, order_id, qty=qty, price=price(osym, oside, False)
                        )
                    )
                continue
            kind = "limit"
        cross = rng.random() < 0.15
        fields: dict[str, object] = {}
        if kind == "market":
            apply(NewOrder(seq, now, account, symbol, side, qty, None, "market", "ioc"))  # type: ignore[arg-type]
            continue
        if kind == "cash":
            budget = rng.randint(1_000, 500_000)
            apply(NewOrder(seq, now, account, symbol, "buy", qty, None, "market", cash_qty=budget))
            continue
        limit = price(symbol, side, cross)
        if kind == "stop":
            order_type = rng.choice(
                ("stop-loss", "stop-loss-limit", "take-profit", "take-profit-limit")
            )
            ref = risk.markets[symbol].reference or limit
            away = max(1, ref // 200) * rng.randint(1, 4)
            loss = order_type.startswith("stop")
            below = (side == "sell") == loss
            trigger = max(1, ref - away if below else ref + away)
            stop_price = limit if order_type.endswith("limit") else None
            apply(
                NewOrder(
                    seq,
                    now,
                    account,
                    symbol,
                    side,  # type: ignore[arg-type]
                    qty,
                    stop_price,
                    order_type,  # type: ignore[arg-type]
                    trigger_price=trigger,
                )
            )
            continue
        order_type, tif = "limit", "gtc"
        if kind in ("ioc", "fok"):
            tif = kind
            limit = price(symbol, side, True)
        elif kind == "post_only":
            fields["post_only"] = True
        elif kind == "gtd":
            tif = "gtd"
            fields["expire_ts"] = now + rng.randint(1, 600) * 10**9
        elif kind == "day":
            tif = "day"
            fields["expire_ts"] = trading_day_end_ns(now)
        elif kind == "iceberg":
            order_type = "iceberg"
            qty = max(qty, 20)
            fields["display_qty"] = max(1, qty // 5)
        apply(
            NewOrder(seq, now, account, symbol, side, qty, limit, order_type, tif, **fields)  # type: ignore[arg-type]
        )
    return cmds, lambda: _engine(instruments)
