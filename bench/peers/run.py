"""Run a peer engine on an ops file and return its report.

Contract
--------
:func:`run_peer` makes sure the peer's venv exists (:func:`bench.peers.env.ensure_env`)
and, for tokex's compiled row on Python 3.12, that tokex's core is built for it
(:func:`bench.peers.env.ensure_core`),
runs ``<venv python> bench/peers/runner_<peer>.py OPS_JSON --runs R --latency`` as
a subprocess, and returns the one JSON object the runner prints on stdout as a
dict. That dict has at least the keys of :data:`REQUIRED_KEYS`: ``peer``,
``version``, ``python``, ``commands``, ``runs``, ``throughput_cmd_s`` (one
commands/s figure per run), ``latency_ns`` (``p50``, ``p99``, ``p999``, ``max``;
``None`` without ``--latency``), ``resting_orders_end`` and ``trades``.

A runner that exits non-zero, times out, or prints something that is not such
an object raises :class:`PeerRunError` carrying the runner's stderr.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bench.peers.env import ensure_core, ensure_env, get_spec, runner_env

__all__ = [
    "PEERS",
    "REQUIRED_KEYS",
    "PeerRunError",
    "check_build",
    "parse_runner_output",
    "prepare",
    "run_peer",
    "run_runner",
    "runner_command",
    "runner_path",
]

#: The peers the harness compares tokex with, in report order.
PEERS: tuple[str, ...] = ("matching-engine", "fastlob")

#: Keys every runner report carries.
REQUIRED_KEYS: tuple[str, ...] = (
    "peer",
    "version",
    "python",
    "commands",
    "runs",
    "throughput_cmd_s",
    "latency_ns",
    "resting_orders_end",
    "trades",
)

_DEFAULT_TIMEOUT_S = 3600.0
_STDERR_TAIL = 4000


class PeerRunError(RuntimeError):
    """A peer runner failed or printed an unusable report."""


def runner_path(peer: str) -> Path:
    """The runner script that drives ``peer`` (it runs inside the peer's venv)."""
    return Path(__file__).resolve().parent / get_spec(peer).runner


def runner_command(
    python: Path, runner: Path, ops_path: Path, runs: int, *, latency: bool = True
) -> list[str]:
    """The argv that runs ``runner`` under ``python`` on ``ops_path`` for ``runs`` timed runs."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    cmd = [str(python), str(runner), str(ops_path), "--runs", str(runs)]
    if latency:
        cmd.append("--latency")
    return cmd


def _tail(text: str) -> str:
    text = text.strip()
    return text[-_STDERR_TAIL:] if text else "(empty)"


def parse_runner_output(peer: str, stdout: str, stderr: str = "") -> dict[str, object]:
    """The report in ``stdout``: its last non-blank line, a JSON object for ``peer``.

    Only the last line is read, so anything a peer library prints before it is
    ignored. Raises :class:`PeerRunError` (with ``stderr``) when that line is
    missing, is not a JSON object, lacks a key of :data:`REQUIRED_KEYS`, or
    names another peer.
    """
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise PeerRunError(f"{peer} runner printed no report; stderr:\n{_tail(stderr)}")
    try:
        report = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise PeerRunError(
            f"{peer} runner's last line is not JSON ({exc}): {lines[-1][:200]!r}; "
            f"stderr:\n{_tail(stderr)}"
        ) from exc
    if not isinstance(report, dict):
        raise PeerRunError(f"{peer} runner's report is not a JSON object: {lines[-1][:200]!r}")
    missing = [key for key in REQUIRED_KEYS if key not in report]
    if missing:
        raise PeerRunError(f"{peer} runner's report lacks {', '.join(missing)}")
    if report["peer"] != peer:
        raise PeerRunError(f"expected a report for {peer!r}, got one for {report['peer']!r}")
    return {str(key): value for key, value in report.items()}


def run_runner(
    peer: str,
    python: Path,
    runner: Path,
    ops_path: Path,
    runs: int,
    *,
    latency: bool = True,
    timeout: float | None = _DEFAULT_TIMEOUT_S,
    env: dict[str, str] | None = None,
) -> dict[str, object]:
    """Run one runner script as a subprocess and return its parsed report.

    ``env``: the runner's environment (``None``: the harness's). Raises
    :class:`PeerRunError` with the runner's stderr if it cannot start, times
    out, exits non-zero, or prints no valid report.
    """
    cmd = runner_command(python, runner, ops_path, runs, latency=latency)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        raise PeerRunError(
            f"{peer} runner timed out after {timeout}s: {' '.join(cmd)}; stderr:\n{_tail(err)}"
        ) from exc
    except OSError as exc:
        raise PeerRunError(f"{peer} runner could not start: {' '.join(cmd)}: {exc}") from exc
    if proc.returncode != 0:
        raise PeerRunError(
            f"{peer} runner failed (exit {proc.returncode}): {' '.join(cmd)}; "
            f"stderr:\n{_tail(proc.stderr)}"
        )
    return parse_runner_output(peer, proc.stdout, proc.stderr)


def run_peer(
    peer: str,
    ops_path: Path,
    runs: int,
    *,
    latency: bool = True,
    timeout: float | None = _DEFAULT_TIMEOUT_S,
) -> dict[str, object]:
    """Measure ``peer`` on the ops file ``ops_path``: ``runs`` timed runs plus a latency pass.

    Builds the peer's venv on first use (see :func:`bench.peers.env.ensure_env`),
    which needs PyPI; later calls reuse it. Returns the runner's report.
    """
    python, env = prepare(peer)
    ops = Path(ops_path).resolve()
    if not ops.is_file():
        raise PeerRunError(f"ops file not found: {ops}")
    report = run_runner(
        peer, python, runner_path(peer), ops, runs, latency=latency, timeout=timeout, env=env
    )
    check_build(peer, report)
    return report


def prepare(peer: str) -> tuple[Path, dict[str, str] | None]:
    """The interpreter and environment ``peer``'s runner runs with, its venv built first.

    For ``tokex-py3.12`` the venv's compiled core too (:func:`ensure_core`).
    """
    python = ensure_env(peer)
    if get_spec(peer).tokex_build == "compiled":
        ensure_core(python)
    return python, runner_env(peer)


def check_build(peer: str, report: dict[str, object]) -> None:
    """:class:`PeerRunError` unless a tokex row ran the build its name promises."""
    want = get_spec(peer).tokex_build
    got = report.get("build")
    kind = got.get("kind") if isinstance(got, dict) else None
    if want and kind != want:
        raise PeerRunError(f"{peer} was to run tokex's {want} build but ran {kind or 'unknown'}")
