"""Entry point of ``python -m bench``; see :mod:`bench.cli`."""

from bench.cli import main

main()
