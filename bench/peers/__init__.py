"""Third-party matching engines ("peers") run on tokex's order flow for comparison.

Each peer lives in its own virtualenv under ``bench/.peers/<peer>/`` (see
:mod:`bench.peers.env`) and is driven by a stdlib-only runner script
(``runner_*.py``) that runs inside that venv; :mod:`bench.peers.run` ties the
two together and returns the runner's JSON report.
"""
