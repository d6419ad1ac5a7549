"""Background WAL checkpoints for SQLite, so no write transaction pays for one.

In WAL mode SQLite copies the log back into the database file (a checkpoint, with two syncs)
inside whichever COMMIT pushes the log past `wal_autocheckpoint` pages. That commit holds the write
lock meanwhile, so the writer thread and every write queued behind it wait too. Here a thread runs
`PRAGMA wal_checkpoint(PASSIVE)` every `interval_seconds` on its own connection instead: a
passive checkpoint takes no write lock, so writers carry on while it copies and syncs, and a
writer that starts once the log is fully copied restarts it from the beginning. Request
connections keep a much higher autocheckpoint as a backstop (see
`authsvc.db.engine.BACKGROUND_CHECKPOINT_PAGES`): when this thread is not running, or writes are so
continuous that no writer ever finds the log fully copied, a commit checkpoints as before, and
finds little left to copy. The interval was chosen by measurement: the figures, and the longer
interval that was worse, are in bench/results/2026-12-01-writepath.md.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine

from authsvc.db.engine import is_sqlite

logger = logging.getLogger(__name__)


def checkpoint_once(engine: Engine) -> tuple[int, int]:
    """One passive checkpoint: (frames in the log, frames copied back) as SQLite reports them."""
    # On the driver connection, in autocommit (see app.db.engine): a checkpoint cannot run inside
    # the transaction SQLAlchemy would begin around the statement.
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            _busy, log_frames, copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            cursor.close()
    finally:
        connection.close()  # back to the pool
    return int(log_frames), int(copied)


@dataclass(slots=True)
class WalCheckpointer:
    """A daemon thread checkpointing `engine`'s SQLite database until `stop()`."""

    engine: Engine
    interval_seconds: float = 0.25
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> WalCheckpointer:
        if not is_sqlite(self.engine):
            return self  # PostgreSQL manages its own write-ahead log
        self._thread = threading.Thread(target=self._run, name="authsvc-checkpoints", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.interval_seconds):
            try:
                checkpoint_once(self.engine)
            except Exception as exc:  # a locked or missing database must not end the loop
                if not failing:  # log the first failure of a run, not one line per tick
                    logger.warning("WAL checkpoint failed: %s", type(exc).__name__)
                failing = True
            else:
                failing = False
