"""Both queue backends for every settlement integration test.

``backend`` is ``sqlite`` or ``nats``; for ``nats`` a real nats-server with
JetStream runs on 127.0.0.1 (free ports, a store in a temporary folder) for
the whole session and is stopped at its end. Each test gets a stream of its
own. Where nats-server is not installed (``make nats-server`` installs it)
the NATS half is skipped, saying why.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.natsserver import NatsServer, nats_binary, start_nats
from node.config import DEMO_CONFIG, Config, parse_config

_streams = itertools.count(1)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    if nats_binary() is None:
        reason = "nats-server is not installed and could not be (make nats-server needs root)"
        print(f"\nskipping the NATS backend: {reason}")
        pytest.skip(reason)
    server = start_nats(tmp_path_factory.mktemp("nats"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "nats"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclasses.dataclass
class Setup:
    """The demo configuration with the backend under test, as a Config and as TOML."""

    backend: str
    toml: str
    url: str | None

    @property
    def config(self) -> Config:
        return parse_config(self.toml, "test config")

    def adding(self, lines: str) -> Setup:
        """The same, with more ``[settlement]`` keys (the table is the file's last)."""
        return Setup(self.backend, self.toml + "\n" + lines + "\n", self.url)

    def write(self, folder: Path) -> Path:
        path = folder / "tokex.toml"
        path.write_text(self.toml, encoding="utf-8")
        return path


@pytest.fixture
def setup(backend: str, request: pytest.FixtureRequest) -> Setup:
    if backend == "nats":
        server: NatsServer = request.getfixturevalue("nats_server")
        stream = f"TEST_{next(_streams)}_{request.node.name[-20:]}"
        stream = "".join(c if c.isalnum() or c in "_-" else "_" for c in stream)
        table = (
            f'[settlement]\nbackend = "nats"\nnats_url = "{server.url}"\n'
            f'nats_stream = "{stream}"\nnats_ack_wait_ms = 2000\n'
        )
        return Setup(backend, DEMO_CONFIG + "\n" + table, server.url)
    return Setup(backend, DEMO_CONFIG + "\n[settlement]\n", None)
