"""Unit tests for the peer harness plumbing: no network, no venv is built.

Python discovery runs against fake interpreters (shell scripts printing a
version) in a temporary pyenv tree; runner handling runs fake runner scripts
under the current interpreter.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench.peers.env import (
    PEER_SPECS,
    PeerEnvError,
    ensure_env,
    env_python,
    find_python,
    get_spec,
    probe_python,
    python_candidates,
    runner_env,
    version_key,
)
from bench.peers.run import (
    PEERS,
    REQUIRED_KEYS,
    PeerRunError,
    check_build,
    parse_runner_output,
    run_runner,
    runner_command,
    runner_path,
)


def _fake_python(path: Path, version: str | None) -> Path:
    """An executable that answers like Python ``version``, or fails like a broken shim."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = f"echo {version}" if version else "echo 'pyenv: no such command' >&2; exit 127"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _report(peer: str = "fastlob", **extra: object) -> dict[str, object]:
    report: dict[str, object] = {
        "peer": peer,
        "version": "0.0.24",
        "python": "3.11.7",
        "commands": 3,
        "runs": 2,
        "throughput_cmd_s": [1000.0, 1100.0],
        "latency_ns": {"p50": 1, "p99": 2, "p999": 3, "max": 4},
        "resting_orders_end": 1,
        "trades": 1,
    }
    report.update(extra)
    return report


def test_version_key_orders_pyenv_dirs() -> None:
    names = ["3.12.0rc1", "3.12.10", "3.12", "3.12.2", "3.12.1", "nightly"]
    ranked = sorted(names, key=version_key, reverse=True)
    assert ranked == ["3.12.10", "3.12.2", "3.12.1", "3.12", "3.12.0rc1", "nightly"]
    assert version_key("3.12") == version_key("3.12.0")


def test_candidates_put_path_first_then_pyenv_highest_first(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    for v in ("3.12.1", "3.12.10", "3.12.2", "3.11.9", "3.13.0"):
        _fake_python(root / "versions" / v / "bin" / f"python{v[:4]}", v)
    (root / "versions" / "3.12.5" / "bin").mkdir(parents=True)  # no interpreter inside
    on_path = _fake_python(tmp_path / "bin" / "python3.12", "3.12.0")

    got = python_candidates((3, 12), path=str(tmp_path / "bin"), pyenv_root=root)

    assert got == [
        on_path,
        root / "versions/3.12.10/bin/python3.12",
        root / "versions/3.12.2/bin/python3.12",
        root / "versions/3.12.1/bin/python3.12",
    ]


def test_find_python_skips_a_failing_shim(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    _fake_python(tmp_path / "bin" / "python3.12", None)  # a pyenv shim that is not active
    good = _fake_python(root / "versions/3.12.1/bin/python3.12", "3.12.1")

    assert probe_python(tmp_path / "bin" / "python3.12") is None
    assert probe_python(good) == (3, 12, 1)
    assert find_python((3, 12), path=str(tmp_path / "bin"), pyenv_root=root) == good


def test_find_python_rejects_a_wrong_version_and_names_what_it_tried(tmp_path: Path) -> None:
    liar = _fake_python(tmp_path / "bin" / "python3.12", "3.11.7")
    with pytest.raises(PeerEnvError, match=r"Python 3\.12 is required") as info:
        find_python((3, 12), path=str(tmp_path / "bin"), pyenv_root=tmp_path / "none")
    assert str(liar) in str(info.value)


def test_find_python_with_no_candidate_says_so(tmp_path: Path) -> None:
    with pytest.raises(PeerEnvError, match="none found"):
        find_python((3, 99), path=str(tmp_path), pyenv_root=tmp_path)


def test_peer_specs_cover_the_peers_and_their_runners() -> None:
    assert set(PEERS) < set(PEER_SPECS)
    for peer in PEER_SPECS:
        spec = get_spec(peer)
        assert spec.requirement == f"{spec.distribution}=={spec.version}"
        assert runner_path(peer).is_file()
        venv = "tokex-py3.12" if peer == "tokex-py3.12-pure" else peer
        assert env_python(peer, Path("/x")) == Path("/x") / venv / "bin" / "python"
    assert get_spec("matching-engine").python == (3, 12)


def test_tokex_on_312_shares_one_venv_pinned_like_the_311_one() -> None:
    compiled, pure = get_spec("tokex-py3.12"), get_spec("tokex-py3.12-pure")
    assert (compiled.tokex_build, pure.tokex_build) == ("compiled", "pure")
    assert env_python("tokex-py3.12") == env_python("tokex-py3.12-pure")
    pins = {compiled.requirement, *compiled.extra}
    assert pins == {pure.requirement, *pure.extra}
    assert {"msgspec==0.23.0", "Cython==3.1.4", "setuptools==84.2.1"} <= pins
    assert all("==" in pin for pin in pins)  # exact versions, never ranges
    # The same Cython as the build system's pin in pyproject.toml.
    pyproject = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
    assert '"Cython==3.1.4"' in pyproject


def test_the_runner_env_forces_the_build_each_tokex_row_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOKEX_PURE", "1")  # the harness's own setting does not leak
    compiled = runner_env("tokex-py3.12", Path("/repo"))
    pure = runner_env("tokex-py3.12-pure", Path("/repo"))
    assert compiled is not None and pure is not None
    assert "TOKEX_PURE" not in compiled and pure["TOKEX_PURE"] == "1"
    assert compiled["PYTHONPATH"] == pure["PYTHONPATH"] == "/repo"
    assert runner_env("matching-engine") is None


def test_a_tokex_row_that_ran_another_build_is_an_error() -> None:
    check_build("tokex-py3.12", _report("tokex-py3.12", build={"kind": "compiled"}))
    check_build("tokex-py3.12-pure", _report("tokex-py3.12-pure", build={"kind": "pure"}))
    check_build("fastlob", _report())
    with pytest.raises(PeerRunError, match="compiled build but ran pure"):
        check_build("tokex-py3.12", _report("tokex-py3.12", build={"kind": "pure"}))
    with pytest.raises(PeerRunError, match="pure build but ran unknown"):
        check_build("tokex-py3.12-pure", _report("tokex-py3.12-pure"))


def test_unknown_peer_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PeerEnvError, match="unknown peer 'nope'; known peers: fastlob"):
        ensure_env("nope", root=tmp_path)
    assert not any(tmp_path.iterdir())


def test_runner_command_shape() -> None:
    cmd = runner_command(Path("/v/bin/python"), Path("/r.py"), Path("/ops.json"), 3)
    assert cmd == ["/v/bin/python", "/r.py", "/ops.json", "--runs", "3", "--latency"]
    assert "--latency" not in runner_command(Path("p"), Path("r"), Path("o"), 1, latency=False)
    with pytest.raises(ValueError, match="runs must be >= 1"):
        runner_command(Path("p"), Path("r"), Path("o"), 0)


def test_parse_takes_the_last_line_and_checks_the_report() -> None:
    stdout = "library chatter\n" + json.dumps(_report()) + "\n\n"
    assert parse_runner_output("fastlob", stdout) == _report()

    with pytest.raises(PeerRunError, match="printed no report; stderr:\nboom"):
        parse_runner_output("fastlob", "  \n", "boom")
    with pytest.raises(PeerRunError, match="not JSON"):
        parse_runner_output("fastlob", "{oops")
    with pytest.raises(PeerRunError, match="not a JSON object"):
        parse_runner_output("fastlob", "[1, 2]")
    partial = {k: v for k, v in _report().items() if k not in ("trades", "latency_ns")}
    with pytest.raises(PeerRunError, match="lacks latency_ns, trades"):
        parse_runner_output("fastlob", json.dumps(partial))
    with pytest.raises(PeerRunError, match="expected a report for 'fastlob'"):
        parse_runner_output("fastlob", json.dumps(_report("matching-engine")))


def _write_runner(tmp_path: Path, body: str) -> Path:
    runner = tmp_path / "runner_fake.py"
    runner.write_text("import json, sys\n" + body)
    return runner


def test_run_runner_passes_the_cli_and_returns_the_report(tmp_path: Path) -> None:
    ops = tmp_path / "ops.json"
    ops.write_text(json.dumps({"workload": "peer-flow", "ops": [["C", 1, 7]]}))
    runner = _write_runner(
        tmp_path,
        "args = sys.argv[1:]\n"
        "ops = json.load(open(args[0]))['ops']\n"
        "print('noise from the peer')\n"
        f"report = {_report()!r}\n"
        "report.update(commands=len(ops), runs=int(args[2]), argv=args[1:])\n"
        "print(json.dumps(report))\n",
    )

    got = run_runner("fastlob", Path(sys.executable), runner, ops, 4)

    assert got["commands"] == 1
    assert got["runs"] == 4
    assert got["argv"] == ["--runs", "4", "--latency"]
    assert set(REQUIRED_KEYS) <= set(got)


def test_run_runner_failure_carries_the_runners_stderr(tmp_path: Path) -> None:
    runner = _write_runner(tmp_path, "sys.stderr.write('KeyError: 42 in peer\\n')\nsys.exit(3)\n")
    with pytest.raises(PeerRunError, match=r"(?s)failed \(exit 3\).*KeyError: 42 in peer"):
        run_runner("fastlob", Path(sys.executable), runner, tmp_path / "ops.json", 1)


def test_run_runner_timeout_is_reported(tmp_path: Path) -> None:
    runner = _write_runner(tmp_path, "import time\ntime.sleep(30)\n")
    with pytest.raises(PeerRunError, match=r"timed out after 0\.5s"):
        run_runner("fastlob", Path(sys.executable), runner, tmp_path / "ops.json", 1, timeout=0.5)


def test_run_runner_missing_interpreter(tmp_path: Path) -> None:
    runner = _write_runner(tmp_path, "")
    with pytest.raises(PeerRunError, match="could not start"):
        run_runner("fastlob", tmp_path / "no-python", runner, tmp_path / "ops.json", 1)
