"""The exchange's TOML configuration: parsed, checked, and turned into what the engine needs.

The schema is OPERATIONS.md's (``[exchange]``, ``[[assets]]``,
``[[instruments]]``, ``[[fee_tiers]]``, ``[[accounts]]``). Every error names
the file, the key and the problem, and stops the start: nothing is half
loaded. Decimal values (prices, quantities, amounts) are converted exactly to
ticks, lots and asset units, never rounded.

:data:`DEMO_CONFIG` is the built-in demo (a few xStocks on 24/7 and 24/5
schedules, funded demo accounts): ``tokex serve`` without ``--config``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

import msgspec

from model.commands import Deposit
from model.instrument import GridError, Instrument, to_decimal
from node.journal import FSYNC_POLICIES
from node.store import Genesis
from risk.accounts import ROLES, AccountSpec, FeeTier, max_open_orders_problem
from risk.money import Asset, MoneyError, Pair

__all__ = [
    "DEMO_CONFIG",
    "MAX_WORKERS",
    "QUEUE_LIMIT",
    "AccountAccess",
    "Config",
    "ConfigError",
    "FixSessionConfig",
    "SettlementConfig",
    "load_config",
    "parse_config",
]


QUEUE_LIMIT = 4_096
"""Default ``queue_limit``: about a quarter of a second of commits at the rate this
machine sustains (docs/WS.md, "Back-pressure")."""


class ConfigError(ValueError):
    """A configuration that cannot be used: the file, the key and the problem."""


class _RateLimit(msgspec.Struct, forbid_unknown_fields=True):
    per_second: int = 50
    burst: int = 100


class _Snapshots(msgspec.Struct, forbid_unknown_fields=True):
    records: int = 100_000
    seconds: int = 600


class _Exchange(msgspec.Struct, forbid_unknown_fields=True):
    name: str = "tokex"
    fee_account: str = "fees"
    ws_port: int = 8765
    fix_port: int = 9878
    fix_comp_id: str = "TOKEX"
    http_port: int = 8080
    fsync: Literal["always", "batch", "off"] = "batch"
    rate_limit: _RateLimit = msgspec.field(default_factory=_RateLimit)
    operator_account: str = "ops"
    queue_limit: int = QUEUE_LIMIT
    queue_wait_ms: int = 250
    snapshots: _Snapshots = msgspec.field(default_factory=_Snapshots)
    connections_per_address: int = 100
    workers: int | None = None


class _Asset(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    precision: int


class _Instrument(msgspec.Struct, forbid_unknown_fields=True):
    symbol: str
    base: str
    quote: str
    price_increment: str | int | float
    qty_increment: str | int | float
    reference_price: str | int | float = "0"
    qty_min: str | int | float | None = None
    qty_max: str | int | float | None = None
    cost_min: str | int | float = "0"
    schedule: Literal["24/7", "24/5"] = "24/7"
    calendar: Literal["XNYS"] = "XNYS"
    tier: Literal[1, 2] = 1


class _FeeTier(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    maker_bps: int
    taker_bps: int


class _Fix(msgspec.Struct, forbid_unknown_fields=True):
    sender_comp_id: str
    password: str
    reset_on_logon: bool = False
    drop_copy: bool = False
    cancel_on_disconnect: bool | None = None
    heartbeat_max: int = 300


class _Account(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    api_key: str
    secret: str
    role: str = "trader"
    fee_tier: str = "default"
    max_order_notional: str | int | float | None = None
    max_open_orders: int = 500
    cancel_on_disconnect: bool = False
    chain: Literal["ethereum", "solana"] = "ethereum"
    balances: dict[str, str | int | float] = msgspec.field(default_factory=dict)
    fix: _Fix | list[_Fix] | None = None
    enabled: bool = True


class _Settlement(msgspec.Struct, forbid_unknown_fields=True):
    backend: Literal["sqlite", "nats"] = "sqlite"
    nats_url: str = "nats://127.0.0.1:4222"
    nats_stream: str = "TOKEX_SETTLEMENT"
    nats_replicas: int = 1
    nats_ack_wait_ms: int = 10_000
    embedded_worker: bool = True
    window_ms: int = 1_000
    fee_chain: Literal["ethereum", "solana"] = "ethereum"
    chain_delay_ms: int = 2_000
    chain_failure_rate: float = 0.0
    retry_ms: int = 1_000


class _File(msgspec.Struct, forbid_unknown_fields=True):
    exchange: _Exchange = msgspec.field(default_factory=_Exchange)
    settlement: _Settlement = msgspec.field(default_factory=_Settlement)
    assets: list[_Asset] = msgspec.field(default_factory=list)
    instruments: list[_Instrument] = msgspec.field(default_factory=list)
    fee_tiers: list[_FeeTier] = msgspec.field(default_factory=list)
    accounts: list[_Account] = msgspec.field(default_factory=list)


@dataclass(frozen=True)
class FixSessionConfig:
    """One FIX session of an account (its ``fix`` table; OPERATIONS.md, docs/FIX.md).

    ``reset_on_logon``: both sides start again at 1 on every Logon (as
    QuickFIX's ResetOnLogon). ``drop_copy``: the session receives every
    execution report of the account and may not enter orders.
    ``cancel_on_disconnect``: the orders entered through this session are
    cancelled when it logs out or its connection is lost (default: on for
    market_maker accounts). ``heartbeat_max``: the largest HeartBtInt (108)
    a Logon may ask for, in seconds.
    """

    sender_comp_id: str
    password: str
    reset_on_logon: bool = False
    drop_copy: bool = False
    cancel_on_disconnect: bool = False
    heartbeat_max: int = 300


@dataclass(frozen=True)
class AccountAccess:
    """How an account logs in, and what it may do (the gateway's side of an account)."""

    account: str
    role: str
    api_key: str
    secret: str
    cancel_on_disconnect: bool
    chain: str
    fix_sessions: tuple[FixSessionConfig, ...] = ()


@dataclass(frozen=True)
class SettlementConfig:
    """The ``[settlement]`` table (docs/SETTLEMENT.md): queue backend, worker, netting, chains."""

    backend: str = "sqlite"
    """``sqlite`` (in the data directory) or ``nats`` (JetStream at ``nats_url``)."""
    nats_url: str = "nats://127.0.0.1:4222"
    nats_stream: str = "TOKEX_SETTLEMENT"
    nats_replicas: int = 1
    nats_ack_wait_ms: int = 10_000
    embedded_worker: bool = True
    """Run the worker inside ``tokex serve`` (false: ``tokex settlement run`` does)."""
    window_ms: int = 1_000
    """Netting window, in exchange-clock milliseconds."""
    fee_chain: str = "ethereum"
    """The chain of the fee account (which has no ``[[accounts]]`` entry)."""
    chain_delay_ms: int = 2_000
    """The chain simulator's confirmation delay."""
    chain_failure_rate: float = 0.0
    """Share of the simulator's submissions that fail (decided by the idempotency key)."""
    retry_ms: int = 1_000
    """Wait before a failed instruction is submitted again."""


@dataclass(frozen=True)
class Config:
    """A checked configuration: the engine's genesis, the opening balances, the edges' settings."""

    source: str
    name: str
    genesis: Genesis
    deposits: list[Deposit]
    """Opening balances, journaled as deposits when a data directory is created."""
    access: dict[str, AccountAccess]
    """By API key."""
    ws_port: int
    fix_port: int
    fsync: str
    rate_per_second: int
    rate_burst: int
    operator_account: str
    instruments: dict[str, Instrument] = field(default_factory=dict)
    fix_comp_id: str = "TOKEX"
    """The exchange's CompID on FIX (SenderCompID of what it sends)."""
    http_port: int = 8080
    """The HTTP port: the operator console, /metrics (and the REST API)."""
    settlement: SettlementConfig = field(default_factory=SettlementConfig)
    queue_limit: int = QUEUE_LIMIT
    """Commands waiting for the sequencer past which order entry is refused (EService:Busy)."""
    queue_wait_ms: int = 250
    """Order entry is refused too while the oldest command waiting has waited this long."""
    snapshot_records: int = 100_000
    """Write a snapshot once this many records follow the newest one (0: never by count)."""
    snapshot_seconds: int = 600
    """Write a snapshot once the newest is this old and records follow it (0: never by age)."""
    connections_per_address: int = 100
    """Open WebSocket connections from one client address, at most."""
    workers: int | None = None
    """Gateway worker processes (docs/WORKERS.md); None: the number of cores minus one."""


MAX_WORKERS = 64
"""Gateway worker processes at most (``exchange.workers``, ``--workers``)."""


def _fail(source: str, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{source}: {key}: {problem}")


def _units(source: str, key: str, value: object, increment: Decimal) -> int:
    """``value`` as a whole number of ``increment``s (exactly), or a ConfigError."""
    try:
        d = to_decimal(key, value)
    except GridError as e:
        raise _fail(source, key, str(e).split(": ", 1)[-1]) from None
    whole, rest = divmod(d, increment)
    if rest:
        raise _fail(source, key, f"{value!r} is not a multiple of {increment}")
    if whole < 0:
        raise _fail(source, key, f"{value!r} must not be negative")
    return int(whole)


def parse_config(text: str, source: str = "<config>") -> Config:
    """Parse and check a configuration's TOML ``text``; ``source`` names it in errors."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    try:
        doc = msgspec.convert(raw, _File)
    except msgspec.ValidationError as e:
        # msgspec names the key as a path: "... - at `$.instruments[0].tier`"
        message = str(e)
        problem, _, where = message.partition(" - at `$.")
        key = where.rstrip("`") or "(top level)"
        raise _fail(source, key, problem) from None
    ex = doc.exchange
    if not doc.assets:
        raise _fail(source, "assets", "at least one asset is needed")
    if not doc.instruments:
        raise _fail(source, "instruments", "at least one instrument is needed")
    for name in ("ws_port", "fix_port", "http_port"):
        if not 0 <= getattr(ex, name) < 65536:
            raise _fail(source, f"exchange.{name}", f"{getattr(ex, name)}: must be 0 to 65535")
    _comp_id(source, "exchange.fix_comp_id", ex.fix_comp_id)
    if ex.fsync not in FSYNC_POLICIES:
        raise _fail(source, "exchange.fsync", f"must be one of {', '.join(FSYNC_POLICIES)}")
    if ex.rate_limit.per_second < 1 or ex.rate_limit.burst < 1:
        raise _fail(source, "exchange.rate_limit", "per_second and burst must be at least 1")
    if ex.queue_limit < 1:
        raise _fail(source, "exchange.queue_limit", "must be at least 1")
    if ex.workers is not None and not 0 <= ex.workers <= MAX_WORKERS:
        raise _fail(source, "exchange.workers", f"{ex.workers}: must be 0 to {MAX_WORKERS}")
    if ex.queue_wait_ms < 1:
        raise _fail(source, "exchange.queue_wait_ms", "must be at least 1")
    if ex.snapshots.records < 0 or ex.snapshots.seconds < 0:
        raise _fail(source, "exchange.snapshots", "records and seconds must be 0 (off) or more")
    if ex.connections_per_address < 1:
        raise _fail(source, "exchange.connections_per_address", "must be at least 1")
    assets: dict[str, Asset] = {}
    for i, a in enumerate(doc.assets):
        if a.id in assets:
            raise _fail(source, f"assets[{i}].id", f"{a.id!r} is listed twice")
        if not 0 <= a.precision <= 18:
            raise _fail(source, f"assets[{i}].precision", "must be 0 to 18")
        assets[a.id] = Asset(a.id, a.precision)
    instruments: dict[str, Instrument] = {}
    for i, inst in enumerate(doc.instruments):
        key = f"instruments[{i}]"
        if inst.symbol in instruments:
            raise _fail(source, f"{key}.symbol", f"{inst.symbol!r} is listed twice")
        for side in ("base", "quote"):
            if getattr(inst, side) not in assets:
                raise _fail(source, f"{key}.{side}", f"{getattr(inst, side)!r} is not an asset")
        price_inc = _positive_decimal(source, f"{key}.price_increment", inst.price_increment)
        qty_inc = _positive_decimal(source, f"{key}.qty_increment", inst.qty_increment)
        quote_unit = Decimal(1).scaleb(-assets[inst.quote].precision)
        qty_min = (
            1 if inst.qty_min is None else _units(source, f"{key}.qty_min", inst.qty_min, qty_inc)
        )
        qty_max = (
            10**12
            if inst.qty_max is None
            else _units(source, f"{key}.qty_max", inst.qty_max, qty_inc)
        )
        if not 1 <= qty_min <= qty_max:
            raise _fail(source, f"{key}.qty_min", "must be at least one lot and at most qty_max")
        made = Instrument(
            symbol=inst.symbol,
            base=inst.base,
            quote=inst.quote,
            price_increment=price_inc,
            qty_increment=qty_inc,
            qty_min=qty_min,
            qty_max=qty_max,
            cost_min=_units(source, f"{key}.cost_min", inst.cost_min, quote_unit),
            schedule=inst.schedule,
            calendar=inst.calendar,
            tier=inst.tier,
            reference_price=_units(
                source, f"{key}.reference_price", inst.reference_price, price_inc
            ),
        )
        try:
            Pair.of(made, assets[inst.base], assets[inst.quote])
        except MoneyError as e:
            raise _fail(source, f"{key}.qty_increment", str(e)) from None
        instruments[inst.symbol] = made
    tiers: dict[str, FeeTier] = {}
    for i, t in enumerate(doc.fee_tiers):
        try:
            tiers[t.name] = FeeTier(t.name, t.maker_bps, t.taker_bps)
        except ValueError as e:
            raise _fail(source, f"fee_tiers[{i}]", str(e)) from None
    tiers.setdefault("default", FeeTier("default", 0, 0))
    quotes = {i.quote for i in instruments.values()}
    specs: list[AccountSpec] = []
    deposits: list[Deposit] = []
    access: dict[str, AccountAccess] = {}
    seen: set[str] = set()
    comp_ids: set[str] = {ex.fix_comp_id}
    for i, acct in enumerate(doc.accounts):
        key = f"accounts[{i}]"
        if acct.id in seen or acct.id == ex.fee_account:
            raise _fail(source, f"{key}.id", f"{acct.id!r} is taken")
        if acct.id.startswith("@"):
            raise _fail(source, f"{key}.id", f"{acct.id!r}: ids starting with @ are reserved")
        seen.add(acct.id)
        if acct.role not in ROLES:
            raise _fail(source, f"{key}.role", f"must be one of {', '.join(sorted(ROLES))}")
        if acct.fee_tier not in tiers:
            raise _fail(source, f"{key}.fee_tier", f"{acct.fee_tier!r} is not a fee tier")
        if acct.api_key in access:
            raise _fail(source, f"{key}.api_key", "another account has this key")
        open_problem = max_open_orders_problem(acct.max_open_orders)
        if open_problem is not None:
            raise _fail(source, f"{key}.max_open_orders", open_problem)
        notional = None
        if acct.max_order_notional is not None:
            if len(quotes) != 1:
                raise _fail(source, f"{key}.max_order_notional", "needs one quote asset")
            unit = Decimal(1).scaleb(-assets[next(iter(quotes))].precision)
            notional = _units(source, f"{key}.max_order_notional", acct.max_order_notional, unit)
        specs.append(
            AccountSpec(
                id=acct.id,
                role=acct.role,  # type: ignore[arg-type]
                fee_tier=tiers[acct.fee_tier],
                max_order_notional=notional,
                max_open_orders=acct.max_open_orders,
                enabled=acct.enabled,
            )
        )
        for asset, amount in sorted(acct.balances.items()):
            if asset not in assets:
                raise _fail(source, f"{key}.balances.{asset}", "not an asset")
            unit = Decimal(1).scaleb(-assets[asset].precision)
            units = _units(source, f"{key}.balances.{asset}", amount, unit)
            if units:
                deposits.append(Deposit(0, 0, acct.id, asset, units))
        access[acct.api_key] = AccountAccess(
            acct.id,
            acct.role,
            acct.api_key,
            acct.secret,
            acct.cancel_on_disconnect,
            acct.chain,
            _fix_sessions(source, key, acct, comp_ids),
        )
    genesis = Genesis(
        assets=list(assets.values()),
        instruments=list(instruments.values()),
        accounts=specs,
        fee_account=ex.fee_account,
    )
    return Config(
        source=source,
        name=ex.name,
        genesis=genesis,
        deposits=deposits,
        access=access,
        ws_port=ex.ws_port,
        fix_port=ex.fix_port,
        fsync=ex.fsync,
        rate_per_second=ex.rate_limit.per_second,
        rate_burst=ex.rate_limit.burst,
        operator_account=ex.operator_account,
        instruments=instruments,
        fix_comp_id=ex.fix_comp_id,
        http_port=ex.http_port,
        settlement=_settlement(source, doc.settlement),
        queue_limit=ex.queue_limit,
        queue_wait_ms=ex.queue_wait_ms,
        snapshot_records=ex.snapshots.records,
        snapshot_seconds=ex.snapshots.seconds,
        connections_per_address=ex.connections_per_address,
        workers=ex.workers,
    )


def _settlement(source: str, s: _Settlement) -> SettlementConfig:
    """The checked ``[settlement]`` table."""
    for name in ("window_ms", "chain_delay_ms", "retry_ms", "nats_ack_wait_ms"):
        value = getattr(s, name)
        low = 1 if name in ("window_ms", "nats_ack_wait_ms") else 0
        if not low <= value <= 86_400_000:
            raise _fail(source, f"settlement.{name}", f"{value}: must be {low} to 86400000")
    if not 0.0 <= s.chain_failure_rate <= 1.0:
        raise _fail(
            source, "settlement.chain_failure_rate", f"{s.chain_failure_rate}: must be 0 to 1"
        )
    if s.nats_replicas not in (1, 3, 5):
        raise _fail(source, "settlement.nats_replicas", f"{s.nats_replicas}: must be 1, 3 or 5")
    if not s.nats_url.startswith(("nats://", "tls://")):
        raise _fail(source, "settlement.nats_url", f"{s.nats_url!r}: must start with nats://")
    if not s.nats_stream or not s.nats_stream.replace("_", "").replace("-", "").isalnum():
        raise _fail(
            source, "settlement.nats_stream", f"{s.nats_stream!r}: letters, digits, _ and - only"
        )
    return SettlementConfig(
        backend=s.backend,
        nats_url=s.nats_url,
        nats_stream=s.nats_stream,
        nats_replicas=s.nats_replicas,
        nats_ack_wait_ms=s.nats_ack_wait_ms,
        embedded_worker=s.embedded_worker,
        window_ms=s.window_ms,
        fee_chain=s.fee_chain,
        chain_delay_ms=s.chain_delay_ms,
        chain_failure_rate=s.chain_failure_rate,
        retry_ms=s.retry_ms,
    )


def _comp_id(source: str, key: str, value: str) -> None:
    """A FIX CompID: 1 to 64 printable ASCII characters (it goes into every message)."""
    if not 0 < len(value) <= 64 or not value.isascii() or not value.isprintable():
        raise _fail(source, key, f"{value!r} must be 1 to 64 printable ASCII characters")


def _fix_sessions(
    source: str, key: str, acct: _Account, comp_ids: set[str]
) -> tuple[FixSessionConfig, ...]:
    """An account's ``fix`` table (or list of tables), checked; each SenderCompID unique."""
    tables = [] if acct.fix is None else acct.fix if isinstance(acct.fix, list) else [acct.fix]
    if tables and acct.role not in ("trader", "market_maker"):
        raise _fail(source, f"{key}.fix", "only trader and market_maker accounts trade over FIX")
    out = []
    for j, fix in enumerate(tables):
        where = (
            f"{key}.fix"
            if len(tables) == 1 and not isinstance(acct.fix, list)
            else (f"{key}.fix[{j}]")
        )
        _comp_id(source, f"{where}.sender_comp_id", fix.sender_comp_id)
        if fix.sender_comp_id in comp_ids:
            raise _fail(source, f"{where}.sender_comp_id", f"{fix.sender_comp_id!r} is taken")
        comp_ids.add(fix.sender_comp_id)
        if not fix.password or "\x01" in fix.password:
            raise _fail(source, f"{where}.password", "must be non-empty text without SOH")
        if not 1 <= fix.heartbeat_max <= 3600:
            raise _fail(source, f"{where}.heartbeat_max", "must be 1 to 3600 seconds")
        cod = fix.cancel_on_disconnect
        out.append(
            FixSessionConfig(
                fix.sender_comp_id,
                fix.password,
                fix.reset_on_logon,
                fix.drop_copy,
                (acct.role == "market_maker" and not fix.drop_copy) if cod is None else cod,
                fix.heartbeat_max,
            )
        )
    return tuple(out)


def _positive_decimal(source: str, key: str, value: object) -> Decimal:
    try:
        d = to_decimal(key, value)
    except GridError as e:
        raise _fail(source, key, str(e).split(": ", 1)[-1]) from None
    if d <= 0:
        raise _fail(source, key, f"{value!r} must be greater than zero")
    return d


def load_config(path: Path) -> Config:
    """Read and check the configuration file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read: {e.strerror}") from None
    return parse_config(text, str(path))


DEMO_CONFIG = """
[exchange]
name = "tokex-demo"
fee_account = "fees"
ws_port = 8765
fix_port = 9878
http_port = 8080
fsync = "batch"
rate_limit = { per_second = 50, burst = 100 }

[[assets]]
id = "USD"
precision = 2
[[assets]]
id = "AAPLx"
precision = 8
[[assets]]
id = "TSLAx"
precision = 8
[[assets]]
id = "SPYx"
precision = 8
[[assets]]
id = "NVDAx"
precision = 8

[[instruments]]
symbol = "AAPLx/USD"
base = "AAPLx"
quote = "USD"
price_increment = "0.01"
qty_increment = "0.0001"
qty_min = "0.0001"
qty_max = "100000"
cost_min = "1.00"
schedule = "24/7"
tier = 1
reference_price = "230.00"

[[instruments]]
symbol = "TSLAx/USD"
base = "TSLAx"
quote = "USD"
price_increment = "0.01"
qty_increment = "0.0001"
qty_min = "0.0001"
cost_min = "1.00"
schedule = "24/5"
tier = 2
reference_price = "250.00"

[[instruments]]
symbol = "SPYx/USD"
base = "SPYx"
quote = "USD"
price_increment = "0.01"
qty_increment = "0.0001"
qty_min = "0.0001"
cost_min = "1.00"
schedule = "24/7"
tier = 1
reference_price = "590.00"

[[instruments]]
symbol = "NVDAx/USD"
base = "NVDAx"
quote = "USD"
price_increment = "0.01"
qty_increment = "0.0001"
qty_min = "0.0001"
cost_min = "1.00"
schedule = "24/5"
tier = 2
reference_price = "140.00"

[[fee_tiers]]
name = "default"
maker_bps = 10
taker_bps = 25

[[fee_tiers]]
name = "maker"
maker_bps = 0
taker_bps = 15

[[accounts]]
id = "alice"
role = "trader"
api_key = "alice-key"
secret = "dG9rZXggZGVtbyBzZWNyZXQgb2YgYWxpY2U="
fee_tier = "default"
max_order_notional = "1000000"
balances = { USD = "1000000.00", AAPLx = "100", TSLAx = "100", SPYx = "100", NVDAx = "100" }

[[accounts]]
id = "bob"
role = "trader"
api_key = "bob-key"
secret = "dG9rZXggZGVtbyBzZWNyZXQgb2YgYm9i"
fee_tier = "default"
balances = { USD = "1000000.00", AAPLx = "100", TSLAx = "100", SPYx = "100", NVDAx = "100" }

[[accounts]]
id = "mm"
role = "market_maker"
api_key = "mm-key"
secret = "dG9rZXggZGVtbyBzZWNyZXQgb2YgbW0="
fee_tier = "maker"
fix = { sender_comp_id = "MM", password = "mm-fix" }
[accounts.balances]
USD = "10000000.00"
AAPLx = "10000"
TSLAx = "10000"
SPYx = "10000"
NVDAx = "10000"

[[accounts]]
id = "ops"
role = "operator"
api_key = "ops-key"
secret = "dG9rZXggZGVtbyBzZWNyZXQgb2Ygb3Bz"
"""
"""The built-in demo configuration (``tokex serve`` with no ``--config``)."""
