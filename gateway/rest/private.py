"""The REST API's private methods (REST_API.md): account data and order entry.

Each takes the gateway, the caller's access and the request's parameters
(already authenticated, its nonce taken) and returns the ``result``. Order
entry translates Kraken's REST fields into the WebSocket dialect's and uses
its parsers (:mod:`gateway.ws.requests`), then goes through the node's
pipeline like every gateway's orders; a success is answered once the
command is durable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.events import OrderRejected
from gateway.reasons import error_for
from gateway.requests import (
    RequestError,
    parse_amend,
    parse_batch,
    parse_batch_cancel,
    parse_cancel_after,
    parse_cancels,
    parse_edit,
    parse_new_order,
)
from gateway.rest.shapes import (
    amount,
    closed_order,
    descr,
    open_order,
    seconds,
    trade,
)
from gateway.words import order_id_text
from model.commands import BatchOrder, CancelAll, CancelOrder, NewOrder
from node.config import AccountAccess
from node.interface import Refusal, Sequenced

if TYPE_CHECKING:
    from gateway.rest.server import RestGateway

__all__ = ["METHODS"]

HISTORY = 1_000
"""Closed orders, fills and ledger entries a query looks through (the newest)."""
PAGE = 50
TRADING = frozenset({"trader", "market_maker"})

Handler = Callable[["RestGateway", AccountAccess, dict[str, Any]], Awaitable[Any]]


def _invalid(what: str) -> RequestError:
    return RequestError(f"EGeneral:Invalid arguments:{what}")


def _trader(access: AccountAccess) -> str:
    if access.role not in TRADING:
        raise RequestError("EGeneral:Permission denied")
    return access.account


def _flag(params: dict[str, Any], field: str) -> bool:
    value = params.get(field, False)
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0", ""):
        return False
    raise _invalid(f"{field} {value!r}: must be true or false")


def _userref(value: object, field: str = "userref") -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    if not text.lstrip("-").isdigit():
        raise _invalid(f"{field} {value!r}: must be an integer")
    return int(text)


def _ids(value: object) -> list[str]:
    """A comma list (or JSON list) of ids."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(i).strip() for i in items if str(i).strip()]


def _expire_time(value: object, now: int) -> str:
    """``expiretm``: Unix seconds, or ``+N`` seconds from now, as an RFC 3339 time."""
    text = str(value).strip()
    try:
        ns = int(Decimal(text.lstrip("+")) * 10**9)
    except ArithmeticError:
        raise _invalid(f"expiretm {value!r}: Unix seconds or +seconds") from None
    if text.startswith("+"):
        ns += now
    when = datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{when}.{ns % 10**9 // 1000:06d}Z"


def _order_params(gw: RestGateway, p: dict[str, Any], with_pair: bool = True) -> dict[str, Any]:
    """Kraken's ``AddOrder`` fields as the WebSocket dialect's ``add_order`` params."""
    known = {
        "pair", "type", "ordertype", "volume", "price", "price2", "timeinforce", "expiretm",
        "starttm", "oflags", "displayvol", "cl_ord_id", "userref", "validate", "nonce",
        "leverage", "reduce_only", "stptype", "deadline", "trigger",
    }  # fmt: skip
    for key in p:
        if key not in known:
            raise _invalid(f"{key}: not a parameter of AddOrder")
    if p.get("leverage") not in (None, "", "none", "1"):
        raise _invalid(f"leverage {p['leverage']!r}: tokex trades spot only")
    if p.get("starttm") not in (None, "", "0", 0):
        raise _invalid(f"starttm {p['starttm']!r}: scheduled starts are not supported")
    kind = str(p.get("ordertype", "limit")).lower()
    flags = {f.strip() for f in str(p.get("oflags") or "").split(",") if f.strip()}
    out: dict[str, Any] = {"side": p.get("type"), "order_type": kind}
    if with_pair:
        out["symbol"] = gw.pair(p.get("pair")).symbol
    if "viqc" in flags:
        out["cash_order_qty"] = p.get("volume")
    else:
        out["order_qty"] = p.get("volume")
    first, second = p.get("price"), p.get("price2")
    if kind in ("stop-loss", "take-profit", "stop-loss-limit", "take-profit-limit"):
        out["triggers"] = {"price": first}
        if kind.endswith("-limit"):
            out["limit_price"] = second
    elif first not in (None, ""):
        out["limit_price"] = first
    if "post" in flags:
        out["post_only"] = True
    tif = p.get("timeinforce")
    if tif not in (None, ""):
        out["time_in_force"] = str(tif).lower()
    if p.get("expiretm") not in (None, "", "0", 0):
        out.setdefault("time_in_force", "gtd")
        out["expire_time"] = _expire_time(p["expiretm"], gw.node.now())
    if p.get("displayvol") not in (None, ""):
        out["display_qty"] = p["displayvol"]
    if p.get("cl_ord_id") not in (None, ""):
        out["cl_ord_id"] = p["cl_ord_id"]
    userref = _userref(p.get("userref"))
    if userref is not None:
        out["order_userref"] = userref
    if p.get("stptype") not in (None, ""):
        out["stp_type"] = str(p["stptype"]).replace("-", "_")  # Kraken: cancel-newest
    return out


def _descr(gw: RestGateway, order: NewOrder) -> dict[str, Any]:
    inst = gw.instruments[order.symbol]
    d = descr(inst, order.side, order.order_type, order.qty, order.price, order.trigger_price)
    return {"order": d["order"]}


def _rejection(applied: list[Sequenced]) -> str | None:
    events = applied[-1][1]
    if events and isinstance(events[0], OrderRejected):
        return error_for(events[0].reason, events[0].text)
    return None


async def _check(gw: RestGateway, orders: list[NewOrder]) -> Refusal | None:
    import asyncio

    from node.interface import Busy

    future: asyncio.Future[Refusal | None] = asyncio.get_running_loop().create_future()
    try:
        gw.node.enqueue_check(orders, future.set_result)
    except Busy:
        raise RequestError("EService:Busy") from None
    except RuntimeError:
        raise RequestError("EService:Unavailable") from None
    return await future


# ---------------------------------------------------------------- tokens


async def _token(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    token = await gw.login(access, p)
    return {"token": token, "expires": 900}


# ---------------------------------------------------------------- balances


def _balances(gw: RestGateway, account: str) -> dict[str, tuple[int, int]]:
    out = {}
    for asset in sorted(gw.precision):
        b = gw.node.balance(account, asset)
        out[asset] = (b.balance, b.held)
    return out


async def _balance(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    return {a: amount(b, gw.precision[a]) for a, (b, _) in _balances(gw, account).items()}


async def _balance_ex(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    return {
        a: {"balance": amount(b, gw.precision[a]), "hold_trade": amount(h, gw.precision[a])}
        for a, (b, h) in _balances(gw, account).items()
    }


async def _trade_balance(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    """Everything valued in ``asset`` (default USD) at each pair's last price (or reference)."""
    account = _trader(access)
    asked = str(p.get("asset") or "USD")
    # Kraken also names fiat assets in its older four-letter form (ZUSD for USD), and
    # clients send that one: python-kraken-sdk's get_trade_balance() asks for ZUSD.
    legacy = asked[1:] if len(asked) == 4 and asked[0] in "XZ" else asked
    quote = asked if asked in gw.precision else legacy
    if quote not in gw.precision:
        raise _invalid(f"asset {asked!r}: not an asset")
    precision = gw.precision[quote]
    total = Decimal(0)
    for asset, (units, _) in _balances(gw, account).items():
        value = Decimal(units).scaleb(-gw.precision[asset])
        if asset == quote:
            total += value
            continue
        inst = next(
            (i for i in gw.instruments.values() if i.base == asset and i.quote == quote), None
        )
        if inst is None:
            continue
        last = gw.node.recent_trades(inst.symbol, 1)
        ticks = last[-1].price if last else gw.node.market(inst.symbol).reference
        total += value * inst.ticks_to_price(ticks)
    text = f"{total.quantize(Decimal(1).scaleb(-precision)):f}"
    zero = amount(0, precision)
    return {"eb": text, "tb": text, "m": zero, "n": zero, "c": zero, "v": zero, "e": text,
            "mf": text, "uv": zero}  # fmt: skip


# ---------------------------------------------------------------- orders and trades


def _fees(gw: RestGateway, account: str) -> dict[int, int]:
    """Fees paid per order over the account's last HISTORY fills (quote units)."""
    out: dict[int, int] = {}
    for t in gw.node.fills(account, HISTORY):
        if t.taker_account == account:
            out[t.taker_order_id] = out.get(t.taker_order_id, 0) + t.taker_fee
        if t.maker_account == account:
            out[t.maker_order_id] = out.get(t.maker_order_id, 0) + t.maker_fee
    return out


def _open(gw: RestGateway, account: str, fees: dict[int, int]) -> dict[str, Any]:
    out = {}
    for o in gw.node.open_orders(account):
        inst = gw.instruments[o.symbol]
        opened = gw.opened.get(o.order_id, 0)
        fee = fees.get(o.order_id, 0)
        out[order_id_text(o.order_id)] = open_order(inst, o, opened, fee, gw.precision[inst.quote])
    return out


def _closed(gw: RestGateway, account: str, fees: dict[int, int]) -> list[tuple[str, Any]]:
    out = []
    for o in reversed(gw.node.closed_orders(account, HISTORY)):  # newest first
        inst = gw.instruments[o.symbol]
        fee = fees.get(o.order_id, 0)
        out.append(
            (order_id_text(o.order_id), closed_order(inst, o, fee, gw.precision[inst.quote]))
        )
    return out


def _window(p: dict[str, Any]) -> tuple[Decimal | None, Decimal | None, int]:
    def number(field: str) -> Decimal | None:
        value = p.get(field)
        if value in (None, ""):
            return None
        try:
            return Decimal(str(value))
        except ArithmeticError:
            raise _invalid(f"{field} {value!r}: must be a number") from None

    ofs = p.get("ofs") or 0
    if not str(ofs).isdigit():
        raise _invalid(f"ofs {ofs!r}: must be a whole number")
    return number("start"), number("end"), int(str(ofs))


def _in_window(t: Decimal, start: Decimal | None, end: Decimal | None) -> bool:
    return (start is None or t > start) and (end is None or t <= end)


async def _open_orders(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    found = _open(gw, account, _fees(gw, account))
    userref = _userref(p.get("userref"))
    clid = p.get("cl_ord_id")
    found = {
        k: v
        for k, v in found.items()
        if (userref is None or v["userref"] == userref) and (not clid or v.get("cl_ord_id") == clid)
    }
    return {"open": found}


async def _closed_orders(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    start, end, ofs = _window(p)
    userref = _userref(p.get("userref"))
    rows = [
        (k, v)
        for k, v in _closed(gw, account, _fees(gw, account))
        if _in_window(v["closetm"], start, end) and (userref is None or v["userref"] == userref)
    ]
    return {"closed": dict(rows[ofs : ofs + PAGE]), "count": len(rows)}


async def _query_orders(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    wanted = _ids(p.get("txid"))
    if not wanted:
        raise _invalid("txid: one or more order ids")
    fees = _fees(gw, account)
    known = {**dict(_closed(gw, account, fees)), **_open(gw, account, fees)}
    out = {t: known[t] for t in wanted if t in known}
    if not out:
        raise RequestError("EOrder:Unknown order")
    return out


def _trades(gw: RestGateway, account: str) -> list[tuple[str, Any]]:
    rows = []
    for t in reversed(gw.node.fills(account, HISTORY)):  # newest first
        inst = gw.instruments[t.symbol]
        item = trade(inst, t, account, gw.order_types, gw.precision[inst.quote])
        rows.append((f"T{t.trade_id}", item))
    return rows


async def _trades_history(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    start, end, ofs = _window(p)
    rows = [(k, v) for k, v in _trades(gw, account) if _in_window(v["time"], start, end)]
    return {"trades": dict(rows[ofs : ofs + PAGE]), "count": len(rows)}


async def _query_trades(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    wanted = _ids(p.get("txid"))
    if not wanted:
        raise _invalid("txid: one or more trade ids")
    known = dict(_trades(gw, account))
    out = {t: known[t] for t in wanted if t in known}
    if not out:
        raise _invalid(f"txid {','.join(wanted)}: no such trade")
    return out


async def _ledgers(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    start, end, ofs = _window(p)
    assets = {a.casefold() for a in _ids(p.get("asset"))} - {"all"}
    kind = str(p.get("type") or "all")
    rows = []
    for e in reversed(gw.node.ledger(account, HISTORY)):
        when = seconds(e.ts)
        if not _in_window(when, start, end):
            continue
        if assets and e.asset.casefold() not in assets:
            continue
        if kind != "all" and e.kind != kind:
            continue
        precision = gw.precision[e.asset]
        rows.append(
            (
                f"L{e.seq}-{e.n}",
                {
                    "refid": e.ref_id,
                    "time": when,
                    "type": e.kind,
                    "subtype": "",
                    "aclass": "currency",
                    "asset": e.asset,
                    "amount": amount(e.amount, precision),
                    "fee": amount(e.fee, precision),
                    "balance": amount(e.balance, precision),
                },
            )
        )
    return {"ledger": dict(rows[ofs : ofs + PAGE]), "count": len(rows)}


# ---------------------------------------------------------------- order entry


async def _add_order(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    ws = _order_params(gw, p)
    order = parse_new_order(account, ws, gw.instruments, gw.precision, gw.node.now())
    description = _descr(gw, order)
    if _flag(p, "validate"):
        refusal = await _check(gw, [order])
        if refusal is not None:
            raise RequestError(error_for(refusal.reason, refusal.text))
        return {"descr": description}
    applied = await gw.submit([order])
    error = _rejection(applied)
    if error is not None:
        raise RequestError(error)
    result: dict[str, Any] = {"descr": description, "txid": [order_id_text(applied[-1][0].seq)]}
    if order.cl_ord_id is not None:
        result["cl_ord_id"] = order.cl_ord_id
    return result


async def _add_order_batch(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    inst = gw.pair(p.get("pair"))
    orders = p.get("orders")
    if not isinstance(orders, list):
        raise _invalid("orders: must be a list of orders")
    translated = []
    for i, item in enumerate(orders):
        if not isinstance(item, dict):
            raise _invalid(f"orders[{i}]: must be an object")
        try:
            translated.append(_order_params(gw, {**item, "pair": inst.symbol}, with_pair=False))
        except RequestError as e:
            raise _invalid(f"orders[{i}].{str(e).split(':', 2)[-1]}") from None
    parts = parse_batch(
        account,
        {"symbol": inst.symbol, "orders": translated},
        gw.instruments,
        gw.precision,
        gw.node.now(),
    )
    if _flag(p, "validate"):
        refusal = await _check(gw, list(parts))
        if refusal is not None:
            raise RequestError(error_for(refusal.reason, refusal.text))
        return {"orders": [{"descr": _descr(gw, part)} for part in parts]}
    applied = await gw.submit(list(parts))
    placed = [c for c, _ in applied if isinstance(c, BatchOrder)]
    error = _rejection(applied)
    if error is not None:
        raise RequestError(error)
    return {"orders": [{"descr": _descr(gw, c), "txid": order_id_text(c.seq)} for c in placed]}


async def _amend_order(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    ws: dict[str, Any] = {}
    for rest_name, ws_name in (
        ("txid", "order_id"), ("cl_ord_id", "cl_ord_id"), ("order_qty", "order_qty"),
        ("display_qty", "display_qty"), ("limit_price", "limit_price"),
        ("trigger_price", "trigger_price"),
    ):  # fmt: skip
        if p.get(rest_name) not in (None, ""):
            ws[ws_name] = p[rest_name]
    if p.get("post_only") not in (None, ""):
        ws["post_only"] = _flag(p, "post_only")
    node = gw.node
    command = parse_amend(account, ws, gw.instruments, lambda i, c: node.find_order(account, i, c))
    applied = await gw.submit([command])
    error = _rejection(applied)
    if error is not None:
        raise RequestError(error)
    return {"amend_id": f"A{applied[-1][0].seq}"}


async def _edit_order(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    inst = gw.pair(p.get("pair"))
    ws: dict[str, Any] = {"order_id": p.get("txid"), "symbol": inst.symbol}
    if p.get("volume") not in (None, ""):
        ws["order_qty"] = p["volume"]
    if p.get("price") not in (None, ""):
        ws["limit_price"] = p["price"]
    flags = {f.strip() for f in str(p.get("oflags") or "").split(",") if f.strip()}
    if "post" in flags:
        ws["post_only"] = True
    userref = _userref(p.get("userref"))
    if userref is not None:
        ws["order_userref"] = userref
    if p.get("cl_ord_id") not in (None, ""):
        ws["new_cl_ord_id"] = p["cl_ord_id"]
    command = parse_edit(account, ws, gw.instruments)
    applied = await gw.submit([command])
    error = _rejection(applied)
    if error is not None:
        raise RequestError(error)
    seq = applied[-1][0].seq
    events = applied[-1][1]
    new = next((e.order for e in events if hasattr(e, "order")), None)
    result: dict[str, Any] = {
        "txid": order_id_text(seq),
        "originaltxid": order_id_text(command.order_id or 0),
        "orders_cancelled": 1,
        "status": "ok",
    }
    if isinstance(new, NewOrder):
        result["descr"] = _descr(gw, new)
        result["volume"] = f"{inst.lots_to_qty(new.qty):f}"
        result["price"] = f"{inst.ticks_to_price(new.price or 0):f}"
    return result


async def _cancel(gw: RestGateway, named: list[tuple[str, CancelOrder | None]]) -> int:
    """Cancel the named orders as one group; how many were cancelled (0: none known)."""
    placed = [c for _, c in named if c is not None]
    if not placed:
        raise RequestError("EOrder:Unknown order")
    applied = await gw.submit(list(placed))
    count = 0
    for _, events in applied[-len(placed) :]:
        if not (events and isinstance(events[0], OrderRejected)):
            count += len(events)
    if not count:
        raise RequestError("EOrder:Unknown order")
    return count


async def _cancel_order(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    ws: dict[str, list[Any]] = {}
    for txid in _ids(p.get("txid")):
        # Kraken's rule: a txid of digits only is a userref.
        if txid.lstrip("-").isdigit():
            ws.setdefault("order_userref", []).append(int(txid))
        else:
            ws.setdefault("order_id", []).append(txid)
    for clid in _ids(p.get("cl_ord_id")):
        ws.setdefault("cl_ord_id", []).append(clid)
    if not ws:
        raise _invalid("txid or cl_ord_id: required")
    count = await _cancel(gw, parse_cancels(account, ws))
    return {"count": count, "pending": False}


async def _cancel_batch(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    orders = p.get("orders") or []
    if not isinstance(orders, list):
        orders = _ids(orders)
    names = [o.get("txid") if isinstance(o, dict) else o for o in orders]
    names += _ids(p.get("cl_ord_ids"))
    if not names:
        raise _invalid("orders: one or more order ids")
    count = await _cancel(gw, parse_batch_cancel(account, {"orders": names}))
    return {"count": count}


async def _cancel_all(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    applied = await gw.submit([CancelAll(0, 0, account, None)])
    return {"count": len(applied[-1][1])}


async def _cancel_after(gw: RestGateway, access: AccountAccess, p: dict[str, Any]) -> Any:
    account = _trader(access)
    timeout = p.get("timeout")
    if isinstance(timeout, str) and timeout.isdigit():
        timeout = int(timeout)
    command = parse_cancel_after(account, {"timeout": timeout})
    applied = await gw.submit([command])
    ts = applied[-1][0].ts

    def stamp(ns: int) -> str:
        return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "currentTime": stamp(ts),
        "triggerTime": stamp(ts + command.timeout_ns) if command.timeout_ns else "0",
    }


METHODS: dict[str, Handler] = {
    "GetWebSocketsToken": _token,
    "Balance": _balance,
    "BalanceEx": _balance_ex,
    "TradeBalance": _trade_balance,
    "OpenOrders": _open_orders,
    "ClosedOrders": _closed_orders,
    "QueryOrders": _query_orders,
    "TradesHistory": _trades_history,
    "QueryTrades": _query_trades,
    "Ledgers": _ledgers,
    "AddOrder": _add_order,
    "AddOrderBatch": _add_order_batch,
    "AmendOrder": _amend_order,
    "EditOrder": _edit_order,
    "CancelOrder": _cancel_order,
    "CancelOrderBatch": _cancel_batch,
    "CancelAll": _cancel_all,
    "CancelAllOrdersAfter": _cancel_after,
}
