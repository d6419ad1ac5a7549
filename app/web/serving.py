"""`authsvc serve`: one process, or uvicorn's process manager over `--workers N` processes.

One worker (the default) builds the app here and serves it on the listening socket the command
bound. Several workers need PostgreSQL (SQLite has one writer, and each process would bring its
own writer thread): the parent binds the socket, sets what the workers must share in their
environment (the data directory, the mail-loop switch, prometheus-client's multiprocess
directory, emptied first), and hands uvicorn import strings, which each spawned worker resolves
into its own app (`worker_app`) and protocol class (`http_protocol`).

`AUTHSVC_HTTP_MAX_CONNECTIONS` and the descriptor limit are per worker process: N workers accept
up to N times that many connections in total.

SIGTERM (or SIGINT) stops accepting, lets the requests in flight finish for up to
`AUTHSVC_SHUTDOWN_TIMEOUT_SECONDS` (then cancels them), lets the delivery loop finish the message
it is sending (bounded by the SMTP timeout), and exits 0.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from authsvc.errors import ConfigError

if TYPE_CHECKING:
    from connexion import AsyncApp

    from authsvc.config import Settings
    from authsvc.contract import Contract

logger = logging.getLogger("authsvc")
# The stdlib asyncio loop, not uvloop: under uvloop a saturated loop left newly opened connections
# waiting for their first answer far longer, at the same throughput (figures in
# bench/results/2026-12-01-writepath.md). bench/ serves its baseline the same way.
SERVICE_EVENT_LOOP = "asyncio"


def check_workers(settings: Settings, workers: int) -> None:
    """Several workers only where they are correct: refuse SQLite with the reason."""
    if workers > 1 and settings.resolved_database_url.startswith("sqlite"):
        raise ConfigError(
            f"--workers {workers}: several worker processes need PostgreSQL "
            "(AUTHSVC_DATABASE_URL); SQLite allows one writer at a time, and each worker would "
            "bring its own writer thread to fight over its lock"
        )


def _exit_zero(signum: int, _frame: FrameType | None) -> NoReturn:
    # uvicorn handles the signal while it serves, shuts down gracefully, then raises the signal
    # again with the handler it found: this one, so a requested stop is a clean exit.
    raise SystemExit(0)


def serve_one(
    settings: Settings,
    contract: Contract,
    *,
    host: str,
    port: int,
    listener: socket.socket,
) -> int:
    """Serve in this process until SIGTERM/SIGINT; 0 after a graceful stop."""
    import uvicorn

    from authsvc.factory import create_app

    app = create_app(settings, contract=contract, run_outbox_worker=settings.mail_loop)
    config = _config(settings, app, host=host, port=port)
    previous = signal.signal(signal.SIGTERM, _exit_zero)
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def serve_many(
    settings: Settings, *, host: str, port: int, listener: socket.socket, workers: int
) -> int:
    """Serve with `workers` processes (uvicorn's process manager); 0 after a graceful stop."""
    from uvicorn.supervisors import Multiprocess

    from authsvc.metrics import MULTIPROCESS_ENV, prepare_multiprocess_dir

    own_dir = MULTIPROCESS_ENV not in os.environ
    metrics_dir = Path(
        os.environ.get(MULTIPROCESS_ENV) or tempfile.mkdtemp(prefix="authsvc-metrics-")
    )
    prepare_multiprocess_dir(metrics_dir)
    # Spawned workers read these from the environment they inherit.
    os.environ[MULTIPROCESS_ENV] = str(metrics_dir)
    os.environ["AUTHSVC_DATA_DIR"] = str(settings.data_dir)
    os.environ["AUTHSVC_MAIL_LOOP"] = "true" if settings.mail_loop else "false"
    config = _config(
        settings,
        f"{__name__}:worker_app",
        host=host,
        port=port,
        http=f"{__name__}:http_protocol",
        factory=True,
        workers=workers,
    )
    try:
        Multiprocess(config, sockets=[listener]).run()
    finally:
        if own_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _config(settings: Settings, app: Any, **options: Any) -> Any:
    from authsvc.web.cors import CorsPolicy
    from authsvc.web.http_server import uvicorn_config

    return uvicorn_config(
        app,
        limits=settings.http_limits,
        cors=CorsPolicy(frozenset(settings.cors_origins)),
        log_level=settings.log_level.lower(),
        log_config=None,  # our root handler (authsvc.logging_setup) formats uvicorn's lines too
        access_log=False,  # replaced by authsvc.access, which names operations, not raw paths
        loop=SERVICE_EVENT_LOOP,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        **options,
    )


@functools.cache
def _worker_settings() -> Settings:
    """A spawned worker's settings, with its logging configured before anything else is imported.

    uvicorn asks for `http_protocol` before the app, and either import pulls in Connexion, whose
    import-time warnings would otherwise reach stderr as plain text among the JSON lines.
    """
    from authsvc.config import load_settings
    from authsvc.logging_setup import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings


def worker_app() -> AsyncApp:
    """The app of one spawned worker, from the environment the parent prepared."""
    settings = _worker_settings()
    from authsvc.factory import create_app
    from authsvc.web.http_server import quiet_accept_errors

    quiet_accept_errors()
    return create_app(settings, run_outbox_worker=settings.mail_loop)


def __getattr__(name: str) -> Any:
    """`http_protocol`: the limited protocol class, built in each worker from its settings."""
    if name == "http_protocol":
        settings = _worker_settings()
        from authsvc.web.cors import CorsPolicy
        from authsvc.web.http_server import limited_protocol

        return limited_protocol(settings.http_limits, CorsPolicy(frozenset(settings.cors_origins)))
    raise AttributeError(name)
