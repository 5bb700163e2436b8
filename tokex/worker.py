"""A gateway worker process: the WebSocket gateway, or the FIX gateway, in front of the
node's channel.

``python -m tokex.worker --channel PATH --index I --host H (--port P | --fix-port F)
--data DIR [--config FILE]``: started (and restarted) by ``tokex serve
--workers N`` (:mod:`node.hub`, docs/WORKERS.md), never by hand. It connects
to the node's channel and is sent the engine as durable now. A WebSocket
worker listens on the WebSocket port with SO_REUSEPORT beside the others; the
FIX worker (index N, one per node) listens on the FIX port, held by the node
so that a FIX worker started again takes it again. The gateways are written
against :class:`node.worker.RemoteNode`, the node carried over the channel.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import os
import signal
import sys
import traceback
from collections.abc import Awaitable, Sequence
from http import HTTPStatus
from pathlib import Path

import uvloop
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from gateway.fix.server import FixGateway
from gateway.ws.server import WsGateway, _address
from node.channel import (
    Listening,
    Stopped,
    decode_down,
    encode,
    frame,
)
from node.config import DEMO_CONFIG, Config, load_config, parse_config
from node.worker import CONNECTION_ID_BITS, RemoteNode, connect

__all__ = ["STATS_EVERY_S", "WorkerGateway", "main", "run_worker"]

FINAL_BATCHES_S = 30.0
"""How long the FIX worker, told to stop, waits for the node to close the channel."""
PR_SET_PDEATHSIG = 1
"""Linux prctl(2): the signal a process gets when its parent dies."""

STATS_EVERY_S = 1.0
"""A worker sends its metrics to the node this often (the node's ``/metrics``)."""


class WorkerGateway(WsGateway):
    """The WebSocket gateway in a worker: the per-address connection quota is the node's.

    ``connections_per_address`` counts an address's connections on every
    worker: a handshake the worker's own count lets through is admitted by
    the node (one round trip per new connection), which counts it until the
    connection closes, however it closes.
    """

    node: RemoteNode
    _releasing: set[asyncio.Task[None]]

    def __init__(self, node: RemoteNode) -> None:
        super().__init__(node)
        self._releasing = set()

    def _admit(  # type: ignore[override]  # asynchronous here: websockets awaits it
        self, ws: ServerConnection, request: Request
    ) -> Response | Awaitable[Response | None] | None:
        refused = super()._admit(ws, request)
        if refused is not None:
            return refused
        return self._admit_shared(ws)

    async def _admit_shared(self, ws: ServerConnection) -> Response | None:
        address = _address(ws)
        if not await self.node.admit(address):
            return ws.respond(
                HTTPStatus.TOO_MANY_REQUESTS,
                f"too many connections from {address}: at most"
                f" {self.config.connections_per_address}\n",
            )
        task = asyncio.get_running_loop().create_task(self._release(ws, address))
        self._releasing.add(task)  # held until done (the loop keeps only a weak reference)
        task.add_done_callback(self._releasing.discard)
        return None

    async def _release(self, ws: ServerConnection, address: str) -> None:
        try:
            await ws.wait_closed()
        finally:
            self.node.release(address)


async def run_worker(args: argparse.Namespace, config: Config) -> int:
    """Serve until SIGTERM (0), the node's channel closing (0), or a failure (1).

    A WebSocket worker (``--port``) hears each batch durable; the FIX worker
    (``--fix-port``) hears it as soon as the node applied it, and the
    answers once it is durable (docs/WORKERS.md, "The FIX worker").
    """
    fix_worker = args.fix_port is not None
    frames, writer, welcome = await connect(args.channel, args.index, early=fix_worker)
    node = RemoteNode(config, welcome, args.data / "history.sqlite")
    node.writer = writer
    gateway: WorkerGateway | None = None
    if not fix_worker:
        gateway = WorkerGateway(node)
        # Connection ids unique across workers: the worker's index in the high bits.
        gateway._next_id = (args.index << CONNECTION_ID_BITS) + 1
        await gateway.start(args.host, args.port, reuse_port=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def receive() -> None:
        """Take the node's frames as the loop reads them, until the channel ends (the
        node is gone) or one cannot be taken (raises)."""
        ended: asyncio.Future[None] = loop.create_future()

        def on_frames(got: list[bytes]) -> None:
            if ended.done():
                return  # a frame could not be taken: nothing after it either
            try:
                for payload in got:
                    node.on_message(decode_down(payload))
            except Exception as e:  # the copy is no longer the node's: the worker stops
                ended.set_exception(e)

        def on_end() -> None:
            if not ended.done():
                ended.set_result(None)

        frames.push(on_frames, on_end)
        await ended

    async def report_stats() -> None:
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            writer.write(frame(encode(node.stats())))

    receiving = loop.create_task(receive())
    fix: FixGateway | None = None
    if fix_worker:
        # Every FIX session in one worker: their store is one file, synced once a turn.
        # (Its start waits for the node's answer to a barrier: after ``receive`` runs.)
        fix = FixGateway(node, args.data / "fix")
        reported = fix.open(welcome.journal_end)
        # What a FIX worker before this one could not report (it died, or was not
        # started yet): the journal from the store's mark to the engine it was sent.
        fix.catch_up(args.data, reported, node.applied_seq)
        starting = loop.create_task(fix.start(args.host, args.fix_port, reuse_port=True))
        # Its start waits for the node to answer a barrier: not if the channel is gone.
        await asyncio.wait((starting, receiving), return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            writer.close()
            return 1
        starting.result()
    # The copy of the engine the node sent lives as long as the worker: keep the
    # collector from walking it again at every full collection (as the node does).
    gc.collect()
    gc.freeze()
    writer.write(frame(encode(Listening())))
    lag = loop.create_task(node.metrics.watch_loop())
    stats = loop.create_task(report_stats())
    stopping = loop.create_task(stop.wait())
    await asyncio.wait((receiving, stopping), return_when=asyncio.FIRST_COMPLETED)
    if stopping.done() and not receiving.done():
        # Stopping: take no new connections, log the FIX sessions out (what they leave
        # open is cancelled), and let what was sent to the node be answered.
        if gateway is not None and gateway.server is not None:
            gateway.server.close(close_connections=False)
        if fix is not None:
            with contextlib.suppress(Exception):
                await fix.stop()
        for _ in range(100):
            if not node.queued:
                break
            await asyncio.sleep(0.05)
        if fix is not None:
            # Logged out; go on hearing every batch until the node has closed its pipeline
            # (it closes the channel then): what it does until then is reported and stored.
            writer.write(frame(encode(Stopped())))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(receiving), FINAL_BATCHES_S)
    if gateway is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(gateway.close(), 5)
    if fix is not None:
        # What the sessions were sent is stored; what the node did not answer in time
        # the next start's cancel-on-disconnect covers.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(fix.close(), 5)
    status = 0
    if receiving.done() and not receiving.cancelled() and receiving.exception() is not None:
        # A frame this worker could not take: its copy of the engine is no longer the
        # node's, so it stops (the node starts it again from a fresh copy).
        error = receiving.exception()
        traceback.print_exception(error, file=sys.stderr)
        status = 1
    receiving.cancel()
    stopping.cancel()
    lag.cancel()
    stats.cancel()
    writer.close()
    return status


def _die_with_the_node(node_pid: int) -> None:
    """Have the kernel kill this worker when the node that started it dies.

    A worker without its node can only go on writing what nobody will read
    (the FIX store, which the node's next start opens again): it goes as the
    node did, at once (Linux ``PR_SET_PDEATHSIG``; where that is missing,
    the channel's end stops it a moment later).
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            print("tokex worker: PR_SET_PDEATHSIG refused", file=sys.stderr, flush=True)
    if os.getppid() != node_pid:
        os._exit(1)  # the node died before the request took effect


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tokex.worker", description=__doc__)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--node-pid", type=int, required=True, help="the node that started it")
    parser.add_argument("--host", required=True)
    gateways = parser.add_mutually_exclusive_group(required=True)
    gateways.add_argument("--port", type=int, help="the WebSocket port (a WebSocket worker)")
    gateways.add_argument("--fix-port", type=int, help="the FIX port (the FIX worker)")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--config", type=Path)
    args = parser.parse_args(argv)
    _die_with_the_node(args.node_pid)
    config = (
        parse_config(DEMO_CONFIG, "built-in demo config")
        if args.config is None
        else load_config(args.config)
    )
    return uvloop.run(run_worker(args, config))


if __name__ == "__main__":
    sys.exit(main())
