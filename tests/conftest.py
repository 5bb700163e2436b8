"""Suite-wide settings."""

import os

# Every server a test starts runs in one process unless the test asks for gateway
# workers (tests/integration/gateway/ws/test_workers.py): the default would be the
# machine's cores minus one.
os.environ.setdefault("TOKEX_WORKERS", "0")
