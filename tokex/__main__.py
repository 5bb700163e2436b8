"""``python -m tokex``: the same as the ``tokex`` command."""

import sys

from tokex.cli import main

sys.exit(main())
