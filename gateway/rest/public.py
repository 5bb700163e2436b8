"""The REST API's public methods (REST_API.md): market data, no key needed.

Each takes the gateway and the request's parameters and returns the
``result``; a refusal raises :class:`gateway.rest.server.RestError`. Pairs
are keyed by their REST name (``AAPLxUSD``: the symbol without the slash,
also its ``altname``; ``wsname`` is the WebSocket symbol), or by the names
a request gave in ``pair`` (any of the three, in any case), as Kraken's
REST API does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gateway.bars import INTERVALS, bars
from gateway.requests import RequestError
from gateway.rest.shapes import amount, pair_id, price, seconds, volume
from gateway.words import STATUS
from model.commands import MARKET_KINDS
from model.instrument import Instrument
from node.interface import TradeRecord

if TYPE_CHECKING:
    from gateway.rest.server import RestGateway

__all__ = ["METHODS"]

DAY_NS = 86_400 * 10**9
MAX_DEPTH = 500


def _int(params: dict[str, Any], field: str, default: int, low: int, high: int) -> int:
    value = params.get(field)
    if value is None or value == "":
        return default
    text = str(value)
    if not text.isascii() or not text.lstrip("-").isdigit():
        raise RequestError(f"EGeneral:Invalid arguments:{field} {value!r}: must be an integer")
    number = int(text)
    if not low <= number <= high:
        raise RequestError(f"EGeneral:Invalid arguments:{field} {number}: {low} to {high}")
    return number


def _since_ns(params: dict[str, Any]) -> int | None:
    """``since``: Unix seconds (with decimals) or a nanosecond ``last`` id; None when absent."""
    value = params.get("since")
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise RequestError(f"EGeneral:Invalid arguments:since {value!r}: not a number") from None
    if not number.is_finite() or number < 0:
        raise RequestError(f"EGeneral:Invalid arguments:since {value!r}: not a time")
    # Under 10**12: seconds; otherwise the nanosecond ids this API hands out as ``last``.
    return int(number * 10**9) if number < 10**12 else int(number)


async def _time(gw: RestGateway, params: dict[str, Any]) -> Any:
    now = gw.node.now()
    when = datetime.fromtimestamp(now // 10**9, UTC)
    return {"unixtime": now // 10**9, "rfc1123": when.strftime("%a, %d %b %y %H:%M:%S +0000")}


async def _status(gw: RestGateway, params: dict[str, Any]) -> Any:
    when = datetime.fromtimestamp(gw.node.now() // 10**9, UTC)
    return {"status": "online", "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ")}


async def _assets(gw: RestGateway, params: dict[str, Any]) -> Any:
    wanted = params.get("asset")
    names = None if not wanted else {a.strip().casefold() for a in str(wanted).split(",")}
    out = {}
    for asset, precision in sorted(gw.precision.items()):
        if names is not None and asset.casefold() not in names:
            continue
        out[asset] = {
            "aclass": "currency",
            "altname": asset,
            "decimals": precision,
            "display_decimals": min(precision, 5),
            "status": "enabled",
        }
    if names is not None and not out:
        raise RequestError("EQuery:Unknown asset")
    return out


def _fees(gw: RestGateway) -> tuple[Decimal, Decimal]:
    """The default fee tier's taker and maker rates, in percent."""
    specs = gw.node.config.genesis.accounts
    tier = next((s.fee_tier for s in specs if s.fee_tier.name == "default"), None)
    if tier is None:
        tier = specs[0].fee_tier if specs else None
    if tier is None:
        return Decimal(0), Decimal(0)
    return Decimal(tier.taker_bps) / 100, Decimal(tier.maker_bps) / 100


async def _asset_pairs(gw: RestGateway, params: dict[str, Any]) -> Any:
    taker, maker = _fees(gw)
    out = {}
    for name, inst in gw.pairs(params):
        state = gw.node.market(inst.symbol)
        quote = gw.precision[inst.quote]
        out[name] = {
            "altname": pair_id(inst),
            "wsname": inst.symbol,
            "aclass_base": "currency",
            "base": inst.base,
            "aclass_quote": "currency",
            "quote": inst.quote,
            "lot": "unit",
            "cost_decimals": quote,
            "pair_decimals": inst.price_precision,
            "lot_decimals": inst.qty_precision,
            "lot_multiplier": 1,
            "leverage_buy": [],
            "leverage_sell": [],
            "fees": [[0, taker]],
            "fees_maker": [[0, maker]],
            "fee_volume_currency": inst.quote,
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": volume(inst, inst.qty_min),
            "costmin": amount(inst.cost_min, quote),
            "tick_size": f"{inst.price_increment:f}",
            "status": STATUS[state.phase],
            # tokex's own (xStocks): the session phase, its schedule, the reference price.
            "phase": state.phase,
            "schedule": inst.schedule,
            "reference_price": price(inst, state.reference),
        }
    return out


def _stats(inst: Instrument, window: list[TradeRecord]) -> tuple[str, str, str, str, int]:
    """Volume, VWAP, low, high and count of ``window``'s trades (zeros when empty)."""
    if not window:
        zero = price(inst, 0)
        return volume(inst, 0), zero, zero, zero, 0
    lots = sum(t.qty for t in window)
    vwap = Decimal(sum(t.price * t.qty for t in window)) / lots * inst.price_increment
    return (
        volume(inst, lots),
        f"{vwap.quantize(inst.ticks_to_price(1)):f}",
        price(inst, min(t.price for t in window)),
        price(inst, max(t.price for t in window)),
        len(window),
    )


async def _ticker(gw: RestGateway, params: dict[str, Any]) -> Any:
    now = gw.node.now()
    midnight = now - now % DAY_NS
    out = {}
    for name, inst in gw.pairs(params):
        bids, asks = gw.node.book(inst.symbol, 1)
        trades = gw.node.trades(inst.symbol, now - DAY_NS)
        today = [t for t in trades if t.ts >= midnight]
        last = trades[-1] if trades else None
        if last is None:
            recent = gw.node.recent_trades(inst.symbol, 1)
            last = recent[-1] if recent else None
        v0, p0, l0, h0, n0 = _stats(inst, today)
        v1, p1, l1, h1, n1 = _stats(inst, trades)
        bid, ask = (bids[0] if bids else (0, 0)), (asks[0] if asks else (0, 0))
        opening = today[0].price if today else (last.price if last else 0)
        out[name] = {
            "a": [price(inst, ask[0]), "1", volume(inst, ask[1])],
            "b": [price(inst, bid[0]), "1", volume(inst, bid[1])],
            "c": [price(inst, last.price if last else 0), volume(inst, last.qty if last else 0)],
            "v": [v0, v1],
            "p": [p0, p1],
            "t": [n0, n1],
            "l": [l0, l1],
            "h": [h0, h1],
            "o": price(inst, opening),
        }
    return out


async def _depth(gw: RestGateway, params: dict[str, Any]) -> Any:
    count = _int(params, "count", 100, 1, MAX_DEPTH)
    stamp = gw.node.now() // 10**9
    out = {}
    for name, inst in gw.pairs(params):
        bids, asks = gw.node.book(inst.symbol, count)
        out[name] = {
            "asks": [[price(inst, p), volume(inst, q), stamp] for p, q in asks],
            "bids": [[price(inst, p), volume(inst, q), stamp] for p, q in bids],
        }
    return out


async def _trades(gw: RestGateway, params: dict[str, Any]) -> Any:
    [(name, inst)] = _one_pair(gw, params)
    count = _int(params, "count", 1000, 1, 1000)
    since = _since_ns(params)
    if since is None:
        found = gw.node.recent_trades(inst.symbol, 50)
    else:
        found = [t for t in gw.node.trades(inst.symbol, since) if t.ts > since]
    found = found[:count]
    rows = [
        [
            price(inst, t.price),
            volume(inst, t.qty),
            seconds(t.ts),
            "b" if t.taker_side == "buy" else "s",
            "m" if t.taker_type in MARKET_KINDS else "l",
            "",
            t.trade_id,
        ]
        for t in found
    ]
    last = found[-1].ts if found else (since or 0)
    return {name: rows, "last": str(last)}


async def _spread(gw: RestGateway, params: dict[str, Any]) -> Any:
    [(name, inst)] = _one_pair(gw, params)
    bids, asks = gw.node.book(inst.symbol, 1)
    now = gw.node.now() // 10**9
    bid, ask = (bids[0][0] if bids else 0), (asks[0][0] if asks else 0)
    return {name: [[now, price(inst, bid), price(inst, ask)]], "last": now}


async def _ohlc(gw: RestGateway, params: dict[str, Any]) -> Any:
    [(name, inst)] = _one_pair(gw, params)
    interval = _int(params, "interval", 1, 1, max(INTERVALS))
    if interval not in INTERVALS:
        raise RequestError(
            f"EGeneral:Invalid arguments:interval {interval}: one of"
            f" {', '.join(map(str, INTERVALS))}"
        )
    step = interval * 60 * 10**9
    now = gw.node.now()
    since = _since_ns(params)
    start = now - now % step - 719 * step  # Kraken's 720 most recent bars
    if since is not None:
        start = max(start, since - since % step)
    found = gw.node.trades(inst.symbol, start)
    rows = [
        [
            b.start // 10**9,
            price(inst, b.open),
            price(inst, b.high),
            price(inst, b.low),
            price(inst, b.close),
            f"{b.vwap(inst):f}",
            volume(inst, b.volume),
            b.count,
        ]
        for b in bars(((t.ts, t.price, t.qty) for t in found), step)
    ]
    last = rows[-1][0] if rows else start // 10**9
    return {name: rows, "last": last}


def _one_pair(gw: RestGateway, params: dict[str, Any]) -> list[tuple[str, Any]]:
    if not params.get("pair"):
        raise RequestError("EGeneral:Invalid arguments:pair: required")
    found = gw.pairs(params)
    if len(found) != 1:
        raise RequestError("EGeneral:Invalid arguments:pair: one pair")
    return found


METHODS: dict[str, Callable[[RestGateway, dict[str, Any]], Awaitable[Any]]] = {
    "Time": _time,
    "SystemStatus": _status,
    "Assets": _assets,
    "AssetPairs": _asset_pairs,
    "Ticker": _ticker,
    "Depth": _depth,
    "Trades": _trades,
    "Spread": _spread,
    "OHLC": _ohlc,
}
