"""`authsvc ...` with SQLite's `synchronous=NORMAL` instead of the default FULL, for comparison.

The bench runs the real command line (`python -m bench.serve_sqlite_normal serve ...`) with only
the pragma changed, so the cost of syncing the log at every commit is measured in the same run.
"""

from __future__ import annotations

import sys

import authsvc.db.engine
from authsvc.cli import main

if __name__ == "__main__":
    authsvc.db.engine.SQLITE_SYNCHRONOUS = "NORMAL"  # read by every new connection
    sys.exit(main(sys.argv[1:]))
