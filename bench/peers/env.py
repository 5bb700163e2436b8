"""Virtualenvs for the peer engines: one per peer, with a pinned package from PyPI.

Contract
--------
:func:`ensure_env` returns the path of a Python interpreter inside
``bench/.peers/<peer>/`` that can ``import`` the peer's module at exactly the
pinned version. It builds that venv the first time (with the Python version
the peer needs, then ``pip install --quiet <dist>==<version>``) and afterwards
reuses it as long as the pinned version still imports under the right Python.
A venv that fails that check is deleted and rebuilt. Anything missing (a
suitable Python, the ``venv`` module, the package on PyPI) raises
:class:`PeerEnvError` naming what is missing and what was tried.

tokex itself on Python 3.12 (``tokex-py3.12``, compiled, and
``tokex-py3.12-pure``) shares one venv holding tokex's runtime dependencies
and the build tools, all pinned (:data:`TOKEX_PINS`); :func:`ensure_core`
then builds tokex's compiled core for that interpreter, in place in this
checkout (the ``.so`` files of each Python sit side by side), whenever the
venv's Python does not already import a compiled core fresh from these
sources.

Only POSIX venv layouts (``bin/python``) are supported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = [
    "PEERS_ROOT",
    "PEER_SPECS",
    "REPO_ROOT",
    "TOKEX_PINS",
    "PeerEnvError",
    "PeerSpec",
    "core_build",
    "ensure_core",
    "ensure_env",
    "env_python",
    "find_python",
    "get_spec",
    "probe_python",
    "python_candidates",
    "runner_env",
    "version_key",
]

#: Where the peer venvs live (git-ignored): ``bench/.peers/<peer>/``.
PEERS_ROOT: Path = Path(__file__).resolve().parent.parent / ".peers"

#: The checkout whose tokex the ``tokex-py*`` runners import (and whose core is built).
REPO_ROOT: Path = Path(__file__).resolve().parents[2]

#: tokex's runtime dependencies (the versions the 3.11 venv runs) and its core's
#: build tools (Cython as pyproject.toml pins it), for the 3.12 venv.
TOKEX_PINS: tuple[str, ...] = (
    "sortedcontainers==2.4.0",
    "hdrhistogram==0.10.8",
    "Cython==3.1.4",
    "setuptools==84.2.1",
)
_BUILD_TIMEOUT_S = 900.0

_PROBE_TIMEOUT_S = 30.0
_INSTALL_TIMEOUT_S = 900.0
_STDERR_TAIL = 4000


class PeerEnvError(RuntimeError):
    """A peer's venv could not be found, built or verified."""


@dataclass(frozen=True, slots=True)
class PeerSpec:
    """How to build and drive one peer.

    ``python`` is the ``(major, minor)`` the venv must run; ``None`` means the
    interpreter running the harness (the one tokex itself is measured on).
    ``runner`` is the runner script's file name inside ``bench/peers/``.
    """

    name: str
    distribution: str
    version: str
    module: str
    python: tuple[int, int] | None
    runner: str
    extra: tuple[str, ...] = ()
    """Further pip requirements installed beside the pinned one."""
    venv: str = ""
    """The venv's directory under the peers' root; empty: ``name``."""
    tokex_build: str = ""
    """For tokex's own rows: ``compiled`` or ``pure``, the build the runner must run."""

    @property
    def requirement(self) -> str:
        """The pip requirement pinning the exact version, e.g. ``fastlob==0.0.24``."""
        return f"{self.distribution}=={self.version}"


PEER_SPECS: dict[str, PeerSpec] = {
    "matching-engine": PeerSpec(
        name="matching-engine",
        distribution="matching-engine",
        version="0.1.1",
        module="matching_engine",
        python=(3, 12),  # requires-python >= 3.12
        runner="runner_matching_engine.py",
    ),
    "fastlob": PeerSpec(
        name="fastlob",
        distribution="fastlob",
        version="0.0.24",
        module="fastlob",
        python=None,  # requires-python >= 3.10: run it on the harness's own Python
        runner="runner_fastlob.py",
    ),
    # matching-engine's HTTP gateway (FastAPI + uvicorn + httptools), measured
    # end to end by ``python -m bench ws``. Its own venv: the engine-only one
    # above stays free of the web stack. The extra pins the same version with
    # the ``gateway`` extra, and the import check loads the FastAPI app module,
    # so a venv missing the extra's packages is rebuilt.
    "matching-engine-http": PeerSpec(
        name="matching-engine-http",
        distribution="matching-engine",
        version="0.1.1",
        module="matching_engine.gateway.app",
        python=(3, 12),
        runner="runner_matching_engine_http.py",
        extra=("matching-engine[gateway]==0.1.1",),
    ),
    # tokex itself on the Python the matching-engine peer needs, so a ratio can
    # also be read at equal interpreter versions: its compiled core (built for
    # 3.12 by ensure_core) and its pure build, in one venv holding tokex's
    # runtime dependencies and build tools. The runner imports tokex from this
    # checkout.
    "tokex-py3.12": PeerSpec(
        name="tokex-py3.12",
        distribution="msgspec",
        version="0.23.0",
        module="msgspec",
        python=(3, 12),
        runner="runner_tokex.py",
        extra=TOKEX_PINS,
        tokex_build="compiled",
    ),
}
# The pure build beside it: the same venv, only the build differs.
PEER_SPECS["tokex-py3.12-pure"] = replace(
    PEER_SPECS["tokex-py3.12"], name="tokex-py3.12-pure", venv="tokex-py3.12", tokex_build="pure"
)


def get_spec(peer: str) -> PeerSpec:
    """The spec of ``peer``; :class:`PeerEnvError` listing the known peers if unknown."""
    try:
        return PEER_SPECS[peer]
    except KeyError:
        known = ", ".join(sorted(PEER_SPECS))
        raise PeerEnvError(f"unknown peer {peer!r}; known peers: {known}") from None


def version_key(name: str) -> tuple[int, int, int, int]:
    """Sort key for a pyenv version directory name such as ``3.12.1`` or ``3.12.0rc1``.

    ``(major, minor, micro, final)``: higher is newer, and a final release
    (nothing after the numbers) sorts above a pre-release with the same numbers.
    Names that do not start with ``N.N`` sort lowest.
    """
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", name)
    if m is None:
        return (-1, -1, -1, -1)
    major, minor, micro = int(m[1]), int(m[2]), int(m[3] or 0)
    return (major, minor, micro, 1 if m.end() == len(name) else 0)


def python_candidates(
    version: tuple[int, int], *, path: str | None = None, pyenv_root: Path | None = None
) -> list[Path]:
    """Interpreters that may be Python ``version``, most preferred first.

    First ``pythonX.Y`` found on ``path`` (default: ``$PATH``), then every
    ``<pyenv_root>/versions/X.Y*/bin/pythonX.Y`` (default root: ``$PYENV_ROOT``
    or ``~/.pyenv``), highest version first. Candidates are not run here: a
    pyenv shim on ``PATH`` may exist and still fail, so callers probe them
    (see :func:`find_python`).
    """
    major, minor = version
    exe = f"python{major}.{minor}"
    found: list[Path] = []
    on_path = shutil.which(exe, path=path)
    if on_path is not None:
        found.append(Path(on_path))
    if pyenv_root is None:
        pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = pyenv_root / "versions"
    if versions.is_dir():
        dirs = [
            d
            for d in versions.iterdir()
            if version_key(d.name)[:2] == (major, minor) and (d / "bin" / exe).is_file()
        ]
        dirs.sort(key=lambda d: version_key(d.name), reverse=True)
        found.extend(d / "bin" / exe for d in dirs if d / "bin" / exe not in found)
    return found


def probe_python(exe: Path) -> tuple[int, int, int] | None:
    """Run ``exe`` and return its ``(major, minor, micro)``, or ``None`` if it does not run."""
    code = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
    try:
        proc = subprocess.run(
            [str(exe), "-c", code],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", proc.stdout.strip())
    if proc.returncode != 0 or m is None:
        return None
    return (int(m[1]), int(m[2]), int(m[3]))


def find_python(
    version: tuple[int, int], *, path: str | None = None, pyenv_root: Path | None = None
) -> Path:
    """The first candidate of :func:`python_candidates` that really runs as Python ``version``.

    Raises :class:`PeerEnvError` listing every candidate tried when none does.
    """
    candidates = python_candidates(version, path=path, pyenv_root=pyenv_root)
    for exe in candidates:
        got = probe_python(exe)
        if got is not None and got[:2] == version:
            return exe
    wanted = f"{version[0]}.{version[1]}"
    tried = ", ".join(str(c) for c in candidates) or "none found"
    raise PeerEnvError(
        f"Python {wanted} is required but no working interpreter was found "
        f"(looked for python{wanted} on PATH and in $PYENV_ROOT/versions/{wanted}*; "
        f"tried: {tried}). Install it, e.g. `pyenv install {wanted}`."
    )


def env_python(peer: str, root: Path = PEERS_ROOT) -> Path:
    """Where the interpreter of ``peer``'s venv is (whether or not it exists yet)."""
    spec = get_spec(peer)
    return root / (spec.venv or spec.name) / "bin" / "python"


def _env_ok(python: Path, spec: PeerSpec, want: tuple[int, int]) -> bool:
    """Whether ``python`` runs as ``want`` and imports the pinned version of the peer."""
    if not python.exists():
        return False
    # The pinned extras too (tokex's venv: its dependencies and build tools).
    pins = [m.group(1, 3) for m in map(_PIN.fullmatch, spec.extra) if m is not None]
    code = (
        "import sys, importlib.metadata as md\n"
        f"import {spec.module}\n"
        f"pins = {pins!r}\n"
        "ok = all(md.version(d) == v for d, v in pins)\n"
        f"print('%d.%d' % sys.version_info[:2], md.version({spec.distribution!r}), ok)\n"
    )
    try:
        proc = subprocess.run(
            [str(python), "-c", code],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and proc.stdout.split() == [
        f"{want[0]}.{want[1]}",
        spec.version,
        "True",
    ]


_PIN = re.compile(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)")


def _run(
    cmd: list[str],
    what: str,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = _INSTALL_TIMEOUT_S,
) -> None:
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd, env=env
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerEnvError(f"{what} failed: {exc}") from exc
    if proc.returncode != 0:
        output = (proc.stderr.strip() or proc.stdout.strip())[-_STDERR_TAIL:]
        raise PeerEnvError(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{output or '(no output)'}"
        )


def ensure_env(peer: str, root: Path = PEERS_ROOT) -> Path:
    """Return the Python of ``peer``'s venv, building the venv first if needed.

    Idempotent: an existing venv under ``root/<peer>`` is reused when it runs
    the required Python and imports exactly the pinned version; otherwise it is
    removed and rebuilt (``python -m venv``, then a quiet ``pip install`` of
    the pinned requirement from PyPI). Raises :class:`PeerEnvError` for an
    unknown peer, a missing Python, or a failed venv creation or install.
    """
    spec = get_spec(peer)
    want = spec.python if spec.python is not None else sys.version_info[:2]
    python = env_python(peer, root)
    if _env_ok(python, spec, want):
        return python

    if spec.python is not None:
        base = find_python(spec.python)
    else:
        base = Path(getattr(sys, "_base_executable", None) or sys.executable)
    venv_dir = python.parent.parent
    if venv_dir.exists():
        shutil.rmtree(venv_dir)
    venv_dir.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [str(base), "-m", "venv", str(venv_dir)],
        f"creating the venv for {peer} with {base} (is the venv module installed?)",
    )
    _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            spec.requirement,
            *spec.extra,
        ],
        f"installing {spec.requirement} from PyPI into {venv_dir}",
    )
    if not _env_ok(python, spec, want):
        raise PeerEnvError(
            f"{venv_dir} was built but `import {spec.module}` at version {spec.version} "
            f"under Python {want[0]}.{want[1]} still fails"
        )
    return python


def runner_env(peer: str, root: Path = REPO_ROOT) -> dict[str, str] | None:
    """The environment ``peer``'s runner runs in: ``None`` (the harness's) but for tokex's rows.

    tokex's rows import tokex from ``root`` and run the build their spec
    names: ``TOKEX_PURE=1`` for the pure row, and never for the compiled one
    (whatever the harness was started with).
    """
    spec = get_spec(peer)
    if not spec.tokex_build:
        return None
    env = {k: v for k, v in os.environ.items() if k not in ("TOKEX_PURE", "PYTHONPATH")}
    env["PYTHONPATH"] = str(root)
    if spec.tokex_build == "pure":
        env["TOKEX_PURE"] = "1"
    return env


_BUILD_PROBE = (
    "import json\n"
    "from model import build\n"
    "print(json.dumps({'kind': 'compiled' if build.COMPILED else 'pure', "
    "'modules': sorted(build.compiled_files()) if build.COMPILED else []}))\n"
)


def core_build(python: Path, root: Path = REPO_ROOT) -> dict[str, object]:
    """The build tokex under ``root`` runs on ``python`` when nothing forces the pure one.

    ``{"kind": "compiled" | "pure", "modules": [...]}``, or ``{"kind":
    "stale", "error": ...}`` when importing it raises (a ``StaleCore``: built
    from other sources, or part-finished).
    """
    env = {k: v for k, v in os.environ.items() if k not in ("TOKEX_PURE", "PYTHONPATH")}
    env["PYTHONPATH"] = str(root)
    try:
        proc = subprocess.run(
            [str(python), "-c", _BUILD_PROBE],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
            cwd=root,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"kind": "stale", "error": str(exc)}
    if proc.returncode != 0:
        return {"kind": "stale", "error": proc.stderr.strip()[-_STDERR_TAIL:]}
    found: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


def ensure_core(python: Path, root: Path = REPO_ROOT) -> dict[str, object]:
    """Make ``python`` (a venv with :data:`TOKEX_PINS`) run tokex's compiled core from ``root``.

    Idempotent: when ``python`` already imports a compiled core built from
    the sources under ``root``, nothing is built. Otherwise the core is
    compiled for that interpreter in place (``setup.py build_ext
    --inplace`` with ``TOKEX_CORE_REQUIRED=1``, so a module that does not
    compile is an error, not a silent pure build) beside the other
    interpreters' modules. Returns :func:`core_build`'s answer; raises
    :class:`PeerEnvError` when the core cannot be built or still does not load.
    """
    found = core_build(python, root)
    if found["kind"] == "compiled":
        return found
    env = {k: v for k, v in os.environ.items() if k not in ("TOKEX_PURE", "PYTHONPATH")}
    env["TOKEX_CORE_REQUIRED"] = "1"
    _run(
        [str(python), "setup.py", "-q", "build_ext", "--inplace"],
        f"building tokex's compiled core for {python} in {root}",
        cwd=root,
        env=env,
        timeout=_BUILD_TIMEOUT_S,
    )
    found = core_build(python, root)
    if found["kind"] != "compiled":
        raise PeerEnvError(
            f"tokex's compiled core was built for {python} but does not load: "
            f"{found.get('error') or found}"
        )
    return found
