"""A throwaway ``nats-server`` with JetStream on 127.0.0.1, for the settlement benchmark and tests.

Debian's package (``make nats-server`` installs it) puts the binary in
``/usr/sbin``, which is not on every PATH. The server picks free ports itself
(``-p -1 -m -1``) and writes them to a ports file once it listens, so there
is no race between choosing a port and binding it; it is ready when its
monitoring endpoint answers ``/healthz?js-enabled-only=true``.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NatsServer", "nats_binary", "start_nats"]


def nats_binary() -> str | None:
    """The nats-server program, or None if it is not installed."""
    found = shutil.which("nats-server")
    if found is not None:
        return found
    debian = Path("/usr/sbin/nats-server")
    return str(debian) if debian.exists() else None


@dataclass
class NatsServer:
    proc: subprocess.Popen[bytes]
    url: str
    monitor: str
    store: Path

    def stop(self) -> None:
        """SIGTERM (JetStream shuts down cleanly), SIGKILL after 10 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_nats(store: Path, timeout: float = 15.0) -> NatsServer:
    """Start nats-server with JetStream storing in ``store``; wait until it is healthy.

    Raises FileNotFoundError if the program is missing, RuntimeError if it
    does not come up.
    """
    binary = nats_binary()
    if binary is None:
        raise FileNotFoundError("nats-server is not installed (make nats-server installs it)")
    ports = store / "ports"
    ports.mkdir(parents=True, exist_ok=True)
    log = open(store / "nats-server.log", "ab")  # noqa: SIM115 - the server's whole life
    command = [binary, "-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-js", "-sd", str(store)]
    command += ["--ports_file_dir", str(ports)]
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    found = ports / f"nats-server_{proc.pid}.ports"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nats-server exited with {proc.returncode}; see {store}")
        try:
            listed = json.loads(found.read_text())
            monitor = listed["monitoring"][0]
            url = f"{monitor}/healthz?js-enabled-only=true"
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return NatsServer(proc, listed["nats"][0], monitor, store)
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"nats-server did not become healthy in {timeout} s")
