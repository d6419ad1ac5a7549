"""What `GET /metrics` shows, in the Prometheus text format (prometheus-client).

    authsvc_http_request_duration_seconds{operation_id, status}   histogram, every answer of the app
    authsvc_mail_deliveries_total{outcome}                        sent | retry | failed (this host's
                                                                  delivery loops: `serve`, `worker`)
    authsvc_outbox_messages{status}                               gauge, from the database
    authsvc_outbox_oldest_pending_age_seconds                     gauge, from the database
    authsvc_jwks_fetches_total{outcome}                           ok | error (AUTHSVC_JWKS_URL)
    authsvc_sign_in_failures_total                                sign-ins refused (one 400 for all)
    authsvc_sign_in_throttled_total                               sign-ins refused by the throttle

Labels are bounded: `operation_id` is the contract's operationId (`none` for a path the contract
does not have, `preflight` for a CORS preflight), never the raw path, which holds IDs and tokens.

Under `authsvc serve --workers N` each worker process writes its samples to files in
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode), which `serve` sets to a
directory of its own and empties at start; a scrape, answered by any worker, adds up every
worker's files. The outbox gauges are read from the database at scrape time, so they are the same
whichever instance answers.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUEST_DURATION = Histogram(
    "authsvc_http_request_duration_seconds",
    "Time from the request's arrival at the app to the end of its answer, by operation and status.",
    ["operation_id", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
MAIL_DELIVERIES = Counter(
    "authsvc_mail_deliveries_total",
    "Outbox delivery attempts by outcome (sent, retry, failed) in this host's delivery loops.",
    ["outcome"],
)
JWKS_FETCHES = Counter(
    "authsvc_jwks_fetches_total",
    "Fetches of AUTHSVC_JWKS_URL by outcome (ok, error).",
    ["outcome"],
)
SIGN_IN_FAILURES = Counter(
    "authsvc_sign_in_failures_total", "Sign-ins refused for a wrong password or unknown user."
)
SIGN_IN_THROTTLED = Counter(
    "authsvc_sign_in_throttled_total", "Sign-ins refused because of the throttle."
)


@dataclass(frozen=True, slots=True)
class OutboxSnapshot:
    """The outbox as the database saw it at scrape time."""

    by_status: dict[str, int]
    oldest_pending_age_seconds: float


class _OutboxCollector(Collector):
    def __init__(self, snapshot: OutboxSnapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> list[GaugeMetricFamily]:
        messages = GaugeMetricFamily(
            "authsvc_outbox_messages", "Outbox messages by status.", labels=["status"]
        )
        for status, count in sorted(self._snapshot.by_status.items()):
            messages.add_metric([status.lower()], count)
        oldest = GaugeMetricFamily(
            "authsvc_outbox_oldest_pending_age_seconds",
            "Age of the oldest message waiting for delivery (0 when none waits).",
            value=self._snapshot.oldest_pending_age_seconds,
        )
        return [messages, oldest]


def observe_request(operation_id: str, status: int, seconds: float) -> None:
    REQUEST_DURATION.labels(operation_id, str(status)).observe(seconds)


def exposition(outbox: OutboxSnapshot | None) -> bytes:
    """Every metric of this process (or, in multiprocess mode, of every worker), as text."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if outbox is not None:
        extra = CollectorRegistry()
        extra.register(_OutboxCollector(outbox))
        text += generate_latest(extra)
    return text


def prepare_multiprocess_dir(path: Path) -> None:
    """Create `path` empty (a previous run's samples must not be added to this one's)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)
