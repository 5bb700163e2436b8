"""``tokex serve``: the exchange as a server on one uvloop event loop.

Opens (or creates) the data directory, recovers the engine, starts the
pipeline, the WebSocket gateway, the FIX gateway (its session store in
``<data>/fix``) and the HTTP port (the operator console and ``/metrics``),
prints where they listen and how to connect, and runs until SIGINT or
SIGTERM. Settlement (docs/SETTLEMENT.md) is fed from the node's durable
batches and, unless configured otherwise, its worker runs as a supervised
child process. Stopping is orderly: the gateways stop taking connections
(FIX sessions are logged out), every command already taken is journaled and
answered, the journal is closed, the settlement queue flushed.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import shlex
import signal
import socket
import sys
import tempfile
from pathlib import Path

import uvloop

from console.web import routes as console_routes
from gateway.fix.server import FixGateway
from gateway.http import HttpServer
from gateway.rest import RestGateway
from gateway.ws.server import VERSION, WsGateway
from node.clock import Clock, parse_clock
from node.config import (
    DEMO_CONFIG,
    MAX_WORKERS,
    Config,
    ConfigError,
    load_config,
    parse_config,
)
from node.exchange import Exchange
from node.hub import WorkerDidNotStart, WorkerHub
from node.journal import JournalError
from node.store import SnapshotError
from settlement.backfill import BackfillError
from settlement.queue import QueueError
from settlement.service import Settlement
from settlement.worker import WorkerBusy

__all__ = ["PORTS", "CannotListen", "check_data_dir", "listen_error", "run_server", "serve_forever"]


class CannotListen(Exception):
    """A port could not be listened on (taken, or not allowed)."""


# Each port the server opens: its name, the option and the config key that set it.
PORTS = (
    ("WebSocket", "--ws-port", "ws_port"),
    ("HTTP (console and /metrics)", "--http-port", "http_port"),
    ("FIX", "--fix-port", "fix_port"),
)


def listen_error(which: int, host: str, port: int, error: OSError, config: str) -> str:
    """What to tell the user when port ``PORTS[which]`` cannot be listened on, and how to fix it.

    ``config`` names the configuration the port came from (a file, or the
    built-in demo config).
    """
    name, option, key = PORTS[which]
    where = f"{host}:{port}"
    if error.errno == errno.EADDRINUSE:
        problem = f"port {port} is taken (another process listens on {where})"
    elif error.errno == errno.EACCES:
        problem = (
            f"port {port} is not allowed for this user ({where}; ports below 1024 need privileges)"
        )
    elif error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        problem = f"address {host} is not one of this machine's (--host)"
    else:
        problem = f"cannot listen on {where}: {error.strerror or error}"
    return (
        f"the {name} port: {problem}. Choose another with {option} PORT, or set"
        f" exchange.{key} in {config} (0 takes any free port)"
    )


_EXAMPLE = """\
Connect, for example with Python's websockets (the interpreter tokex runs on has it):

  {python} - <<'PY'
  import asyncio, hashlib, hmac, json, time, websockets
  async def main():
      async with websockets.connect("ws://{host}:{port}/v2") as ws:
          print(await ws.recv())
          nonce = time.time_ns() // 1_000_000  # milliseconds, as ccxt's are
          msg = f"{{nonce}}alice-key".encode()
          sig = hmac.new(b"dG9rZXggZGVtbyBzZWNyZXQgb2YgYWxpY2U=", msg, hashlib.sha256).hexdigest()
          await ws.send(json.dumps({{"method": "login", "params": {{"api_key": "alice-key",
                                     "nonce": nonce, "signature": sig}}, "req_id": 1}}))
          print(await ws.recv())
          await ws.send(json.dumps({{"method": "add_order", "req_id": 2, "params": {{
              "symbol": "AAPLx/USD", "side": "buy", "order_type": "limit",
              "order_qty": "0.5", "limit_price": "229.50"}}}}))
          print(await ws.recv())
  asyncio.run(main())
  PY
"""

_CCXT_EXAMPLE = """\
Or with ccxt (REST and WebSocket; nothing but the URLs and the key changed; a
development install has it, else pip install ccxt python-kraken-sdk):

  {python} - <<'PY'
  import asyncio, ccxt.pro
  async def main():
      kraken = ccxt.pro.kraken({{"apiKey": "alice-key", "secret": "{alice}"}})
      kraken.urls["api"].update(public="{rest}", private="{rest}")
      kraken.urls["api"]["ws"].update(publicV2="{ws}", privateV2="{ws}", private="{ws}")
      await kraken.load_markets()
      print(await kraken.fetch_balance())
      print(await kraken.create_order("AAPLX/USD", "limit", "buy", 0.5, 229.50))
      print(await kraken.watch_order_book("AAPLX/USD"))
      await kraken.close()
  asyncio.run(main())
  PY

Or with python-kraken-sdk (its nonces are finer than ccxt's: give each library its own key):

  {python} - <<'PY'
  from kraken.spot import Market, Trade, User
  user = User(key="bob-key", secret="{bob}", url="{rest}")
  print(user.get_balances())
  print(Market(url="{rest}").get_ticker(pair="AAPLx/USD"))
  print(Trade(key="bob-key", secret="{bob}", url="{rest}").create_order(
      ordertype="limit", side="sell", pair="AAPLx/USD", volume="0.5", price="231.00"))
  PY
  (SpotWSClient(key=..., secret=..., rest_url="{rest}", ws_url="{ws_base}",
   auth_ws_url="{ws_base}") for its WebSocket client.)
"""

_FIX_EXAMPLE = """\
Connect a FIX 4.4 engine as the market maker, for example QuickFIX/QuickFIX/J settings:

  [SESSION]
  ConnectionType=initiator
  BeginString=FIX.4.4
  SenderCompID={sender}
  TargetCompID={target}
  SocketConnectHost={host}
  SocketConnectPort={port}
  HeartBtInt=30
  StartTime=00:00:00
  EndTime=00:00:00

  and on the Logon (QuickFIX: in toAdmin) Username(553)={username} Password(554)={password}.
  Sequence numbers persist across logons and restarts (141=Y on the Logon resets them).
"""


def worker_count(requested: int | None, config: Config) -> int:
    """Gateway workers to run: ``--workers``, else ``$TOKEX_WORKERS``, else
    ``exchange.workers``, else the number of cores minus one (at least 1). A
    simulated clock works with workers too (the node's time is carried to them)."""
    if requested is None and os.environ.get("TOKEX_WORKERS", "").strip():
        text = os.environ["TOKEX_WORKERS"].strip()
        if not text.isdigit() or int(text) > MAX_WORKERS:
            raise ValueError(f"TOKEX_WORKERS {text!r}: must be a whole number 0 to {MAX_WORKERS}")
        requested = int(text)
    if requested is None:
        requested = config.workers
    if requested is None:
        requested = max(1, (os.cpu_count() or 2) - 1)
    if not 0 <= requested <= MAX_WORKERS:
        raise ValueError(f"--workers {requested}: must be 0 to {MAX_WORKERS}")
    return requested


def _reserve(host: str, port: int) -> socket.socket:
    """Bind (not listen) ``host:port`` with SO_REUSEPORT: the workers' port, held for them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


async def serve_forever(
    config: Config,
    data: Path,
    clock: Clock,
    host: str,
    ports: tuple[int, int, int],
    demo: bool,
    config_path: Path | None = None,
    workers: int = 0,
) -> None:
    """Run the exchange until SIGINT or SIGTERM; ``ports``: WebSocket, HTTP, FIX.

    ``workers`` > 0: the WebSocket gateway runs in that many worker processes
    (node/hub.py, docs/WORKERS.md) and the pipeline commits pipelined.
    """
    source = str(config_path) if config_path is not None else "a config file (--config)"
    exchange = Exchange(config, data, clock)
    exchange.open()
    exchange.pipelined = workers > 0
    # What recovery built lives as long as the process: keep the collector
    # from walking it again and again (full collections took 8-9 ms).
    gc.collect()
    gc.freeze()
    # Settlement listens before the pipeline starts, so it hears every batch.
    settlement = Settlement(
        exchange, config, data, lambda: exchange.engine.next_trade_id - 1, config_path
    )
    await settlement.open(exchange.engine.last_seq)
    exchange.add_retention(settlement.floor)
    exchange.add_report("settlement", settlement.report)
    await exchange.start()
    await settlement.start()
    gauges = asyncio.get_running_loop().create_task(
        settlement.publish_gauges(exchange.metrics), name="settlement-gauges"
    )
    gateway: WsGateway | WorkerHub
    held: list[socket.socket] = []
    fix: FixGateway | None = None
    recovered = exchange.recovered
    assert recovered is not None

    async def abandon() -> None:
        """A port could not be listened on: undo the node, its settlement, the held ports."""
        for sock in held:
            sock.close()
        await exchange.close()
        gauges.cancel()
        await settlement.close()

    # One HTTP port for every HTTP edge: the console and /metrics now.
    http = HttpServer()
    # With workers, the FIX gateway runs in a worker of its own (index N, after the
    # WebSocket ones) when any FIX session is configured; without one it stays in the node,
    # where it costs nothing (a worker would apply every batch to its copy of the engine).
    fix_worker = bool(workers) and any(a.fix_sessions for a in config.access.values())
    try:
        if workers:
            # The workers' ports, held by the node: a worker started again takes them again.
            held.append(_reserve(host, ports[0]))
            port = int(held[0].getsockname()[1])
            fix_args: list[str] | None = None
            common = ["--host", host, "--data", str(data)]
            if config_path is not None:
                common += ["--config", str(config_path)]
            if fix_worker:
                try:
                    held.append(_reserve(host, ports[2]))
                except OSError as e:
                    await abandon()
                    raise CannotListen(listen_error(2, host, ports[2], e, source)) from e
                fix_port = int(held[1].getsockname()[1])
                fix_args = [*common, "--fix-port", str(fix_port)]
            ws_args = [*common, "--port", str(port)]
            gateway = WorkerHub(exchange, workers, ws_args, fix_args)
            try:
                await gateway.start()
            except WorkerDidNotStart:
                await abandon()
                raise
        else:
            gateway = WsGateway(exchange)
            port = await gateway.start(host, ports[0])
    except OSError as e:
        await abandon()
        raise CannotListen(listen_error(0, host, ports[0], e, source)) from e
    http.add_routes(console_routes(exchange, port, VERSION))
    rest = RestGateway(exchange)
    http.add_routes(rest.routes())
    for warning in rest.warnings():
        print(f"tokex serve: warning: {warning}", file=sys.stderr, flush=True)
    try:
        console_port = await http.start(host, ports[1])
    except OSError as e:
        await http.close()
        await gateway.close()
        await abandon()
        raise CannotListen(listen_error(1, host, ports[1], e, source)) from e
    if not fix_worker:
        fix = FixGateway(exchange, data / "fix")
        try:
            # What the store's reports miss of the recovered journal (a crash between
            # the journal's sync of a batch and the store's) is reported now.
            end = recovered.last_seq
            fix.catch_up(data, fix.open(end), end)
            fix_port = await fix.start(host, ports[2])
        except OSError as e:
            await fix.stop()
            await http.close()
            await gateway.close()
            await exchange.close()
            await fix.close()
            gauges.cancel()
            await settlement.close()
            raise CannotListen(listen_error(2, host, ports[2], e, source)) from e
    print(
        f"tokex serve: {config.name}: WebSocket on ws://{host}:{port}/v2,"
        f" FIX 4.4 on tcp://{host}:{fix_port} (TargetCompID {config.fix_comp_id}),"
        f" console on http://{host}:{console_port}/ (metrics at /metrics, REST API at /0/),"
        f" data in {data}"
        f" (journal at seq {exchange.engine.last_seq}; {recovered.replayed} records replayed"
        f" after the snapshot at seq {recovered.snapshot_seq})",
        flush=True,
    )
    if isinstance(gateway, WorkerHub):
        pids = ", ".join(str(p) for i, p in sorted(gateway.pids.items()) if i < workers)
        where = (
            f"in worker {workers} (pid {gateway.pids.get(workers, 0)})"
            if fix_worker
            else "in the node (no FIX session is configured)"
        )
        print(
            f"tokex serve: WebSocket gateway in {workers} worker processes (pids {pids}),"
            f" FIX gateway {where}, node pid {os.getpid()}",
            flush=True,
        )
    worker = "a child process" if config.settlement.embedded_worker else "tokex settlement run"
    print(
        f"tokex serve: settlement: {config.settlement.backend} queue at seq"
        f" {settlement.writer.stored} ({settlement.rederived} messages re-derived from the"
        f" journal), worker {worker}",
        flush=True,
    )
    if demo:
        print("demo accounts (api key / secret):", flush=True)
        for access in config.access.values():
            print(f"  {access.account:8} {access.role:13} {access.api_key} / {access.secret}")
        print(_EXAMPLE.format(host=host, port=port, python=shlex.quote(sys.executable)), flush=True)
        secrets = {a.account: a.secret for a in config.access.values()}
        print(
            _CCXT_EXAMPLE.format(
                python=shlex.quote(sys.executable),
                alice=secrets.get("alice", ""),
                bob=secrets.get("bob", ""),
                rest=f"http://{host}:{console_port}",
                ws=f"ws://{host}:{port}/v2",
                ws_base=f"ws://{host}:{port}",
            ),
            flush=True,
        )
        for access in config.access.values():
            for session in access.fix_sessions:
                example = _FIX_EXAMPLE.format(
                    host=host,
                    port=fix_port,
                    sender=session.sender_comp_id,
                    target=config.fix_comp_id,
                    username=access.api_key,
                    password=session.password,
                )
                print(example, flush=True)
        print(
            f"Operator console: http://{host}:{console_port}/ (log in with an operator key,"
            " ops-key / dG9rZXggZGVtbyBzZWNyZXQgb2Ygb3Bz in the demo)",
            flush=True,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("tokex serve: stopping", flush=True)
    if fix is not None:
        await fix.stop()
    await http.close()
    if isinstance(gateway, WorkerHub):
        await gateway.close(finish=False)  # the FIX worker hears the pipeline out
    else:
        await gateway.close()
    await exchange.close()
    if isinstance(gateway, WorkerHub):
        await gateway.finish()
    if fix is not None:
        await fix.close()
    gauges.cancel()
    await settlement.close()
    for sock in held:
        sock.close()
    print("tokex serve: stopped", flush=True)


def check_data_dir(data: Path) -> str | None:
    """Why ``data`` cannot be the server's data directory, or None if it can.

    It must be a directory (created if missing) in which files can be created:
    a file is written and removed to find out, as the journal will.
    """
    try:
        if data.exists() and not data.is_dir():
            return (
                f"data directory {data}: exists and is not a directory."
                " Choose another with --data DIR"
            )
        data.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".tokex-write-check-", dir=data)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        reason = e.strerror or str(e)
        return (
            f"data directory {data}: cannot be created or written ({reason}"
            f"{f': {e.filename}' if e.filename and str(e.filename) != str(data) else ''})."
            " Choose a writable directory with --data DIR"
        )
    return None


def run_server(
    config_path: Path | None,
    data: Path,
    clock_text: str,
    ws_port: int | None,
    host: str,
    http_port: int | None = None,
    fix_port: int | None = None,
    workers: int | None = None,
) -> int:
    """Check the options and run; the exit status (2 with a clear message on bad options)."""
    try:
        config = (
            parse_config(DEMO_CONFIG, "built-in demo config")
            if config_path is None
            else load_config(config_path)
        )
        clock = parse_clock(clock_text)
        count = worker_count(workers, config)
    except (ConfigError, ValueError) as e:
        print(f"tokex serve: {e}", file=sys.stderr)
        return 2
    ports = (
        config.ws_port if ws_port is None else ws_port,
        config.http_port if http_port is None else http_port,
        config.fix_port if fix_port is None else fix_port,
    )
    for option, value in zip(("--ws-port", "--http-port", "--fix-port"), ports, strict=True):
        if not 0 <= value < 65536:
            print(f"tokex serve: {option} {value}: must be 0 to 65535", file=sys.stderr)
            return 2
    problem = check_data_dir(data)
    if problem is not None:
        print(f"tokex serve: {problem}", file=sys.stderr)
        return 1
    try:
        uvloop.run(
            serve_forever(config, data, clock, host, ports, config_path is None, config_path, count)
        )
    except (JournalError, SnapshotError) as e:
        print(f"tokex serve: {data}: cannot be recovered: {e}", file=sys.stderr)
        return 1
    except (CannotListen, WorkerDidNotStart) as e:
        print(f"tokex serve: {e}", file=sys.stderr)
        return 1
    except (QueueError, BackfillError, WorkerBusy) as e:
        print(f"tokex serve: settlement: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        # A file the server needs could not be made or written (the disk full,
        # a file where a directory belongs, permissions changed under it).
        where = f" {e.filename}" if e.filename else ""
        print(
            f"tokex serve: cannot use{where} (data directory {data}): {e.strerror or e}",
            file=sys.stderr,
        )
        return 1
    return 0
