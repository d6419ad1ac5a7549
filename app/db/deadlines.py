"""The request deadline as database work sees it: when to refuse to start, and to commit."""

from __future__ import annotations

import time

from authsvc.errors import ServiceUnavailable

# Time kept free for the COMMIT itself before the deadline: a sync of SQLite's log (FULL) or a
# round trip to PostgreSQL, which the loop's timer does not wait for.
COMMIT_MARGIN_SECONDS = 0.05


def past(deadline: float | None, margin: float = 0.0) -> bool:
    """True once `deadline` (a `time.monotonic()` value, None for none) is less than `margin` away."""
    return deadline is not None and time.monotonic() > deadline - margin


def too_late_to_commit(deadline: float | None) -> bool:
    """True once a COMMIT started now could end after `deadline`: the work must roll back."""
    return past(deadline, COMMIT_MARGIN_SECONDS)


def check(deadline: float | None, margin: float = 0.0) -> None:
    """The documented 500 (`ServiceUnavailable`) once `deadline` is less than `margin` away."""
    if past(deadline, margin):
        raise ServiceUnavailable()
