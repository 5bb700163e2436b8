"""The servers ``python -m bench ws`` measures, each started fresh as its own process.

* tokex: ``python -m tokex.cli serve`` (what ``tokex serve`` runs) on
  127.0.0.1 with ``--ws-port 0``, a fresh data directory, and a bench
  configuration (:func:`tokex_config`) written next to it: one instrument on
  the 24/7 schedule, one funded account per client, the journal fsynced per
  batch (group commit), a token bucket too large to throttle anything.
* the peer: matching-engine 0.1.1's FastAPI gateway under uvicorn, from its own
  venv (``bench/.peers/matching-engine-http``, built on first use), through
  ``bench/peers/runner_matching_engine_http.py``: port 0, a fresh data
  directory, WAL fsync on per batch (its group commit), its default batch,
  queue and snapshot settings.

Each start returns a :class:`Running`: the process, the port it listens on,
and what to say about it in the report. :func:`cpu_seconds` reads a
process's CPU time (user plus system, every thread) from ``/proc``, and
:func:`machine_busy_seconds` the whole machine's, so a step can say how much
CPU other work took while it ran (the machines are shared).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.peers.env import ensure_env, get_spec
from bench.peers.run import runner_path
from gateway.ws.server import VERSION
from node.config import load_config
from tokex.serve import worker_count


def client_secret(name: str) -> str:
    """A benchmark client's API secret: base64, as Kraken's are (the REST API needs it)."""
    return base64.b64encode(f"{name}-secret".encode()).decode()


__all__ = [
    "FIX_TARGET",
    "MID_TICKS",
    "PEER",
    "PEER_SYMBOL",
    "SYMBOL",
    "Running",
    "cpu_seconds",
    "fix_password",
    "machine_busy_seconds",
    "start_peer",
    "start_tokex",
    "tokex_config",
]

ROOT = Path(__file__).resolve().parent.parent
SYMBOL = "AAPLx/USD"
PEER_SYMBOL = "AAPLx-USD"
PEER = "matching-engine-http"
MID_TICKS = 23_000  # 230.00 USD at a 0.01 tick
FIX_TARGET = "tokex-fix"
"""tokex measured through its FIX gateway (``python -m bench fix``)."""
_START_TIMEOUT_S = 60.0


@dataclass
class Running:
    """A server process under test: its port and what the report says about it."""

    proc: subprocess.Popen[bytes]
    port: int
    info: dict[str, Any] = field(default_factory=dict)
    workers: list[int] = field(default_factory=list)
    """Pids of tokex's gateway worker processes (``--workers N``), in index order."""
    fix_worker: int = 0
    """Pid of tokex's FIX worker (with ``--workers N``, N > 0)."""

    def stop(self) -> None:
        """SIGTERM (each server stops in order), then SIGKILL if it takes over 30 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def client_id(index: int) -> str:
    """The tokex account of bench client ``index``."""
    return f"bench-{index:03d}"


def fix_password(index: int) -> str:
    """The FIX password of bench client ``index`` (its SenderCompID: ``bench.fixload.comp_id``)."""
    return f"{client_id(index)}-fix"


def tokex_config(
    clients: int, extra: str = "", fix: bool = False, fix_gateway: bool = False
) -> str:
    """A bench configuration for ``clients`` traders on one 24/7 instrument (TOML text).

    Balances are written as decimal strings: 10 billion USD and 10 million
    AAPLx per account, far more than a run can use, so no risk check fails
    for want of funds (holds, notional and band checks still run on every order).
    """
    lines = [
        "[exchange]",
        'name = "tokex-bench"',
        'fee_account = "fees"',
        'fsync = "batch"',
        "rate_limit = { per_second = 10000000, burst = 10000000 }",
        "",
        "[[assets]]",
        'id = "USD"',
        "precision = 2",
        "[[assets]]",
        'id = "AAPLx"',
        "precision = 8",
        "",
        "[[instruments]]",
        f'symbol = "{SYMBOL}"',
        'base = "AAPLx"',
        'quote = "USD"',
        'price_increment = "0.01"',
        'qty_increment = "0.0001"',
        'qty_min = "0.0001"',
        'qty_max = "100000"',
        'cost_min = "1.00"',
        'schedule = "24/7"',
        "tier = 1",
        'reference_price = "230.00"',
        "",
        "[[fee_tiers]]",
        'name = "default"',
        "maker_bps = 10",
        "taker_bps = 25",
    ]
    for i in range(clients):
        name = client_id(i)
        lines += [
            "",
            "[[accounts]]",
            f'id = "{name}"',
            f'role = "{"market_maker" if i % 2 else "trader"}"',
            f'api_key = "{name}-key"',
            f'secret = "{client_secret(name)}"',
            'fee_tier = "default"',
            "max_open_orders = 100000",
            'balances = { USD = "10000000000.00", AAPLx = "10000000" }',
        ]
        if fix:  # one FIX session each (bench.fixload.comp_id), no cancel on disconnect
            lines.append(
                f'fix = {{ sender_comp_id = "B{i:03d}", password = "{fix_password(i)}",'
                " cancel_on_disconnect = false }"
            )
    if fix_gateway and not fix:
        # A market maker's FIX session that never logs on: the FIX gateway runs (in its
        # worker) beside the WebSocket clients, whose executions are not its account's.
        lines += [
            "",
            "[[accounts]]",
            'id = "mm-fix"',
            'role = "market_maker"',
            'api_key = "mm-fix-key"',
            f'secret = "{client_secret("mm-fix")}"',
            'fee_tier = "default"',
            'balances = { USD = "10000000.00", AAPLx = "10000" }',
            'fix = { sender_comp_id = "MMFIX", password = "mm-fix-password" }',
        ]
    return "\n".join(lines) + "\n" + extra


def _read_line(proc: subprocess.Popen[bytes], what: str) -> bytes:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        proc.wait()
        raise RuntimeError(f"{what} did not start (exit {proc.returncode}): {err[-2000:]}")
    return line


def start_tokex(
    workdir: Path,
    clients: int,
    clock: str,
    extra: str = "",
    fix: bool = False,
    workers: int | None = None,
    fix_gateway: bool = False,
) -> Running:
    """``tokex serve`` on a fresh data directory under ``workdir``, with the bench config
    (and ``extra`` TOML appended to it).

    ``fix``: each client has a FIX session, and the port returned is the FIX one.
    ``fix_gateway`` (without ``fix``): one more account, a market maker with a FIX
    session that never logs on, so the FIX gateway runs (in its worker with
    workers on) beside the WebSocket clients, as on an exchange that has both.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "bench.toml"
    config.write_text(tokex_config(clients, extra, fix, fix_gateway), encoding="utf-8")
    command = [sys.executable, "-m", "tokex.cli", "serve", "--config", str(config)]
    command += ["--data", str(workdir / "data"), "--ws-port", "0", "--http-port", "0"]
    command += ["--fix-port", "0", "--clock", clock]
    if workers is None:
        # The server's own default (cores minus one, TOKEX_WORKERS...), made explicit
        # so that the report names what really ran and its workers' CPU is counted.
        workers = worker_count(None, load_config(config))
    command += ["--workers", str(workers)]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    first = _read_line(proc, "tokex serve").decode()
    pattern = r"tcp://127\.0\.0\.1:(\d+)" if fix else r"ws://127\.0\.0\.1:(\d+)/v2"
    match = re.search(pattern, first)
    if match is None:
        proc.kill()
        raise RuntimeError(f"tokex serve printed no port: {first!r}")
    pids: list[int] = []
    fix_pid = 0
    if workers:
        second = _read_line(proc, "tokex serve's workers").decode()
        found = re.search(r"pids ([\d, ]+)\)", second)
        if found is None:
            proc.kill()
            raise RuntimeError(f"tokex serve named no worker pids: {second!r}")
        pids = [int(p) for p in found.group(1).split(", ")]
        fix_found = re.search(r"FIX gateway in worker \d+ \(pid (\d+)\)", second)
        fix_pid = int(fix_found.group(1)) if fix_found else 0
    info = {
        "name": "tokex",
        "version": VERSION,
        "python": ".".join(map(str, sys.version_info[:3])),
        "transport": "FIX 4.4 over TCP, one session per client"
        if fix
        else "WebSocket (Kraken v2 dialect), one connection per client",
        "durability": 'journal on, fsync = "batch" (group commit: one fsync per batch '
        "before any of its commands is answered); a snapshot once 100,000 records or "
        "600 s follow the last; history store (trades, orders, ledger) on",
        "clock": clock,
        "workers": workers,
        "command": " ".join(command),
    }
    return Running(proc, int(match.group(1)), info, pids, fix_pid)


def _wait_http(port: int, path: str, timeout: float) -> None:
    """Poll ``GET path`` until it answers 200."""
    deadline = time.monotonic() + timeout
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(request)
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"127.0.0.1:{port}{path} did not answer 200 in {timeout}s")
        time.sleep(0.05)


def start_peer(workdir: Path) -> Running:
    """matching-engine's HTTP gateway on a fresh data directory under ``workdir``."""
    python = ensure_env(PEER)
    command = [str(python), str(runner_path(PEER)), "--data", str(workdir / "peer-data")]
    command += ["--market", f"{PEER_SYMBOL}:0.01:0.0001"]
    proc = subprocess.Popen(
        command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    hello = json.loads(_read_line(proc, PEER))
    port = int(hello["port"])
    try:
        _wait_http(port, "/healthz", _START_TIMEOUT_S)
    except RuntimeError:
        Running(proc, port).stop()
        raise
    spec = get_spec(PEER)
    info = {
        "name": PEER,
        "version": hello["version"],
        "python": hello["python"],
        "requirement": f"{spec.distribution}[gateway]=={spec.version}",
        "transport": "HTTP/1.1 keep-alive (pipelined), one connection per client; "
        "POST /markets/{symbol}/orders, DELETE /markets/{symbol}/orders/{id}",
        "durability": "WAL on, fsync per batch before any answer (ME_FSYNC=1, group commit, "
        f"batch_max {hello['settings']['batch_max']}); snapshot every "
        f"{hello['settings']['snapshot_every']:,} commands",
        "settings": hello["settings"],
        "command": " ".join(command),
    }
    return Running(proc, port, info)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (all its threads), 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (0 if gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def machine_busy_seconds() -> float:
    """CPU time every core of the machine has spent busy since boot (not idle, not iowait)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
