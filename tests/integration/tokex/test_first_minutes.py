"""What a new user meets first: a clear word when a port or the data directory is unusable,
and a printed client that runs as printed, outside the venv."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
MONDAY = "sim:2026-11-23T15:00:00Z"
OPTIONS = {"--ws-port": "ws_port", "--http-port": "http_port", "--fix-port": "fix_port"}


def serve(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tokex.cli", "serve", "--clock", MONDAY, *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("option", list(OPTIONS))
def test_a_taken_port_names_the_option_and_config_key_and_exits_without_traceback(
    tmp_path: Path, option: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {o: "0" for o in OPTIONS}
        ports[option] = str(port)
        args = [x for o, v in ports.items() for x in (o, v)]
        done = serve("--data", str(tmp_path / "d"), *args)
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    message = lines[-1]
    assert f"port {port} is taken" in message, done.stderr
    assert f"{option} PORT" in message and f"exchange.{OPTIONS[option]}" in message, message
    # Nothing half-started: the server listens nowhere once it has given up.
    assert "tokex serve: tokex-demo: WebSocket on" not in done.stdout


def test_a_taken_port_from_a_config_file_names_the_file(tmp_path: Path) -> None:
    from node.config import DEMO_CONFIG

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = DEMO_CONFIG.replace("ws_port = 8765", f"ws_port = {port}")
        text = text.replace("fix_port = 9878", "fix_port = 0").replace(
            "http_port = 8080", "http_port = 0"
        )
        config = tmp_path / "exchange.toml"
        config.write_text(text, encoding="utf-8")
        done = serve("--config", str(config), "--data", str(tmp_path / "d"))
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr, done.stderr
    assert f"port {port} is taken" in done.stderr
    assert f"--ws-port PORT, or set exchange.ws_port in {config}" in done.stderr, done.stderr


def test_a_data_directory_that_is_a_file_is_refused_clearly(tmp_path: Path) -> None:
    afile = tmp_path / "data"
    afile.write_text("not a directory", encoding="utf-8")
    ports = ["--ws-port", "0", "--http-port", "0", "--fix-port", "0"]
    done = serve("--data", str(afile), *ports)
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr, done.stderr
    assert f"data directory {afile}: exists and is not a directory" in done.stderr
    assert "--data DIR" in done.stderr
    assert afile.read_text(encoding="utf-8") == "not a directory"

    below = afile / "sub"
    done = serve("--data", str(below), *ports)
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr, done.stderr
    assert f"data directory {below}: cannot be created or written (Not a directory" in done.stderr
    assert "Choose a writable directory with --data DIR" in done.stderr


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run the server as an unprivileged user",
)
def test_an_unwritable_data_directory_is_refused_clearly() -> None:
    # Root may write anywhere: the server runs as nobody, on a directory only root may write.
    top = Path(tempfile.mkdtemp(prefix="tokex-unwritable-"))
    try:
        top.chmod(0o755)
        data = top / "data"
        data.mkdir(mode=0o755)
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        command += [sys.executable, "-m", "tokex.cli", "serve", "--data", str(data)]
        command += ["--ws-port", "0", "--http-port", "0", "--fix-port", "0", "--clock", MONDAY]
        done = subprocess.run(command, cwd="/", capture_output=True, text=True, timeout=120)
        if "No module named" in done.stderr or "Permission denied: '/" in done.stderr:
            pytest.skip(f"nobody cannot run this checkout's interpreter: {done.stderr[-300:]}")
        assert done.returncode == 1, done
        assert "Traceback" not in done.stderr, done.stderr
        assert f"data directory {data}: cannot be created or written (Permission denied" in (
            done.stderr
        ), done.stderr
        assert list(data.iterdir()) == []
    finally:
        shutil.rmtree(top)


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert proc.stdout is not None
    out = ""
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    deadline = time.monotonic() + timeout
    while marker not in out:
        left = deadline - time.monotonic()
        assert left > 0 and proc.poll() is None, out
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536).decode()
            assert chunk, out
            out += chunk
    return out


def test_the_printed_client_runs_as_printed_outside_the_venv(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "tokex.cli", "serve", "--data", str(tmp_path / "d")]
    command += ["--ws-port", "0", "--http-port", "0", "--fix-port", "0", "--clock", MONDAY]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        out = _read_until(proc, "\n  PY\n", 120)
        lines = out.split("\n")
        first = next(i for i, line in enumerate(lines) if line.endswith("- <<'PY'"))
        last = lines.index("  PY", first)
        script = "\n".join(line[2:] for line in lines[first : last + 1]) + "\n"
        assert script.startswith(f"{sys.executable} - <<'PY'"), script
        # A shell with nothing of the venv: no VIRTUAL_ENV, a bare PATH, another directory.
        done = subprocess.run(
            ["/bin/sh", "-c", script],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        answers = done.stdout.strip().splitlines()
        assert '"method":"login"' in answers[1] and '"success":true' in answers[1], answers
        assert '"method":"add_order"' in answers[2] and '"success":true' in answers[2], answers
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_the_license_is_an_spdx_expression() -> None:
    # setuptools 77+ reads project.license as an SPDX expression; a table is deprecated
    # and prints a screen of warnings on every install.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    license_ = project["project"]["license"]
    assert isinstance(license_, str), license_
    assert license_ == "LicenseRef-Proprietary"
    requires = project["build-system"]["requires"]
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in requires), requires
