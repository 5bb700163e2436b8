"""``tokex serve``: the exchange as a server on one uvloop event loop.

Opens (or creates) the data directory, recovers the engine, starts the
pipeline and the WebSocket gateway, prints where it listens and how to
connect, and runs until SIGINT or SIGTERM. Stopping is orderly: the gateway
stops taking connections, every command already taken is journaled and
answered, the journal is closed.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from pathlib import Path

import uvloop

from gateway.ws.server import WsGateway
from node.clock import Clock, parse_clock
from node.config import DEMO_CONFIG, Config, ConfigError, load_config, parse_config
from node.exchange import Exchange
from node.journal import JournalError
from node.store import SnapshotError

__all__ = ["run_server", "serve_forever"]

_EXAMPLE = """\
Connect, for example with Python's websockets:

  python - <<'PY'
  import asyncio, hashlib, hmac, json, time, websockets
  async def main():
      async with websockets.connect("ws://{host}:{port}/v2") as ws:
          print(await ws.recv())
          nonce = time.time_ns()
          msg = f"{{nonce}}alice-key".encode()
          sig = hmac.new(b"alice-secret", msg, hashlib.sha256).hexdigest()
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


async def serve_forever(
    config: Config, data: Path, clock: Clock, host: str, ws_port: int, demo: bool
) -> None:
    """Run the exchange until SIGINT or SIGTERM."""
    exchange = Exchange(config, data, clock)
    exchange.open()
    # What recovery built lives as long as the process: keep the collector
    # from walking it again and again (full collections took 8-9 ms).
    gc.collect()
    gc.freeze()
    await exchange.start()
    gateway = WsGateway(exchange)
    port = await gateway.start(host, ws_port)
    recovered = exchange.recovered
    assert recovered is not None
    print(
        f"tokex serve: {config.name}: WebSocket on ws://{host}:{port}/v2, data in {data}"
        f" (journal at seq {exchange.engine.last_seq}; {recovered.replayed} records replayed"
        f" after the snapshot at seq {recovered.snapshot_seq})",
        flush=True,
    )
    if demo:
        print("demo accounts (api key / secret):", flush=True)
        for access in config.access.values():
            print(f"  {access.account:8} {access.role:13} {access.api_key} / {access.secret}")
        print(_EXAMPLE.format(host=host, port=port), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("tokex serve: stopping", flush=True)
    await gateway.close()
    await exchange.close()
    print("tokex serve: stopped", flush=True)


def run_server(
    config_path: Path | None, data: Path, clock_text: str, ws_port: int | None, host: str
) -> int:
    """Check the options and run; the exit status (2 with a clear message on bad options)."""
    try:
        config = (
            parse_config(DEMO_CONFIG, "built-in demo config")
            if config_path is None
            else load_config(config_path)
        )
        clock = parse_clock(clock_text)
    except (ConfigError, ValueError) as e:
        print(f"tokex serve: {e}", file=sys.stderr)
        return 2
    port = config.ws_port if ws_port is None else ws_port
    try:
        uvloop.run(serve_forever(config, data, clock, host, port, config_path is None))
    except (JournalError, SnapshotError) as e:
        print(f"tokex serve: {data}: cannot be recovered: {e}", file=sys.stderr)
        return 1
    return 0
