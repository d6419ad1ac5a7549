"""`authsvc`: serve, demo, token, worker, db upgrade, admin create-customer, mock."""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from authsvc.contract import Contract, ContractError, default_contract_path, load_contract
from authsvc.errors import ConfigError
from authsvc.web.serving import SERVICE_EVENT_LOOP as SERVICE_EVENT_LOOP  # bench/ uses it

if TYPE_CHECKING:  # pydantic-settings costs ~0.2 s to import; `authsvc mock` never needs it
    from authsvc.config import Settings

API_BASE_PATH = "/auth/api/v1"
logger = logging.getLogger("authsvc")
MAX_TOKEN_TTL_SECONDS = 366 * 24 * 3600


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    from authsvc.config import load_settings
    from authsvc.logging_setup import configure_logging

    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = Path(args.data_dir)
    settings = load_settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    for warning in settings.warnings():
        logger.warning("%s", warning)
    return settings


def _service_contract() -> Contract:
    """The service's contracts, loaded (and validated) before anything touches the database."""
    contract = load_contract(default_contract_path())
    load_contract(default_contract_path("operations.yaml"))
    return contract


def _make_data_dir(settings: Settings) -> None:
    """The data directory, owner-only (0700): it holds the database, the keys and the mail folder."""
    try:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"AUTHSVC_DATA_DIR: cannot create {settings.data_dir}: {exc.strerror}"
        ) from None
    try:
        if settings.data_dir.stat().st_mode & 0o077:
            settings.data_dir.chmod(0o700)
    except OSError as exc:
        logger.warning("data directory %s is open to other users (%s)", settings.data_dir, exc)


@contextmanager
def _database_errors() -> Iterator[None]:
    """A database that cannot be reached or migrated at startup: one line naming the variable."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (SQLAlchemyError, CommandError) as exc:
        # The driver's first line (host, port, what failed): never the URL, which may hold a password.
        cause = getattr(exc, "orig", None) or exc
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise ConfigError(f"AUTHSVC_DATABASE_URL: the database is unusable: {reason}") from None


def _prepare(settings: Settings, *, seed: bool) -> None:
    """Create the data directory, apply migrations and (in development) seed the demo data."""
    from authsvc.db.engine import create_db_engine, make_session_factory
    from authsvc.db.migrate import upgrade_database
    from authsvc.demo import seed_demo_data

    _make_data_dir(settings)
    with _database_errors():
        upgrade_database(settings.resolved_database_url)
        if seed and settings.environment == "development":
            engine = create_db_engine(settings.resolved_database_url)
            try:
                seed_demo_data(make_session_factory(engine, write=True))
            finally:
                engine.dispose()


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the banner so that a busy port is one line, not a trace."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and the
    # accepted ones inherit the listener's proto. Without it, Nagle and delayed ACKs held answers
    # back (bench/results/2026-12-04-docstring-figures.md).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"--host/--port: cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def demo_info(settings: Settings, base_url: str) -> dict[str, Any]:
    """Everything a newcomer needs to call the demo service: IDs, tokens and the dev key."""
    from authsvc.demo import DEMO, start_dev_sessions
    from authsvc.security.keys import load_or_create_dev_keys
    from authsvc.security.principal import RESEND_INVITE_PERMISSION
    from authsvc.security.tokens import mint_token

    keys = load_or_create_dev_keys(settings.data_dir)
    ttl = 24 * 3600
    callers = [
        DEMO.admin_user_id,
        DEMO.member_user_id,
        DEMO.other_admin_user_id,
        DEMO.platform_admin_user_id,
    ]
    # Each token names a session of its own, as a signed-in user's does (logout ends it).
    sessions = start_dev_sessions(settings.resolved_database_url, callers, ttl_seconds=ttl)

    def token(
        subject: uuid.UUID, customer: uuid.UUID, *, admin: bool, platform: bool = False
    ) -> str:
        return mint_token(
            keys,
            subject=str(subject),
            customer_id=customer,
            permissions=(RESEND_INVITE_PERMISSION,) if admin else (),
            platform_admin=platform,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=ttl,
            session_id=sessions.get(subject),
        )

    return {
        "base_url": base_url + API_BASE_PATH,
        "base_path": API_BASE_PATH,
        "customer_id": str(DEMO.customer_id),
        "other_customer_id": str(DEMO.other_customer_id),
        "invited_user_id": str(DEMO.invited_user_id),
        "active_user_id": str(DEMO.active_user_id),
        "other_invited_user_id": str(DEMO.other_invited_user_id),
        "admin_token": token(DEMO.admin_user_id, DEMO.customer_id, admin=True),
        "member_token": token(DEMO.member_user_id, DEMO.customer_id, admin=False),
        "other_admin_token": token(DEMO.other_admin_user_id, DEMO.other_customer_id, admin=True),
        "platform_admin_token": token(
            DEMO.platform_admin_user_id, DEMO.platform_customer_id, admin=False, platform=True
        ),
        "issuer": settings.jwt_issuer,
        "audience": settings.jwt_audience,
        "public_key_pem": keys.public_pem.decode(),
    }


def cmd_serve(args: argparse.Namespace) -> int:
    from authsvc.web.http_server import ensure_file_descriptors, quiet_accept_errors
    from authsvc.web.serving import check_workers, serve_many, serve_one

    # Everything that can be wrong is checked before the database is touched, the banner (which
    # holds a dev token) is printed, or the port is bound.
    settings = _settings(args, **({"mail_loop": False} if args.no_mail_loop else {}))
    check_workers(settings, args.workers)
    limits = settings.http_limits
    ensure_file_descriptors(limits)
    contract = _service_contract()
    _prepare(settings, seed=True)
    listener = _listen(args.host, args.port)
    base = f"http://{args.host}:{args.port}"
    if settings.environment == "development" and settings.uses_dev_key:
        info = demo_info(settings, base)
        print(
            f"Auth Service (development) on {base}{API_BASE_PATH}  -  docs: {base}{API_BASE_PATH}/ui/\n"
            f"Data directory: {settings.data_dir.resolve()}\n"
            "Try (dev token for the demo admin of Acme Corp):\n"
            f"  curl -i -X POST {info['base_url']}/customers/{info['customer_id']}"
            f"/users/{info['invited_user_id']}/resend-invite \\\n"
            f"    -H 'Authorization: Bearer {info['admin_token']}'\n"
            f"More tokens and IDs: authsvc demo --data-dir {settings.data_dir} --json",
            flush=True,
        )
    quiet_accept_errors()
    logger.info(
        "listening on %s (%d worker%s, mail loop %s)",
        base,
        args.workers,
        "s" if args.workers > 1 else "",
        "on" if settings.mail_loop else "off",
    )
    if args.workers > 1:
        return serve_many(
            settings, host=args.host, port=args.port, listener=listener, workers=args.workers
        )
    return serve_one(settings, contract, host=args.host, port=args.port, listener=listener)


def _development_only(settings: Settings, command: str) -> None:
    """Demo data and dev tokens have no place in production: refuse before anything is written."""
    if settings.environment == "production":
        raise ConfigError(
            f"AUTHSVC_ENVIRONMENT: `authsvc {command}` is for development only "
            "(production: authsvc admin create-customer)"
        )


def _server_url(base_url: str) -> str:
    """The server's root, whether given as `http://host:port` or as the API URL demo prints."""
    base = base_url.rstrip("/")
    return base.removesuffix(API_BASE_PATH) if base.endswith(API_BASE_PATH) else base


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _development_only(settings, "demo")
    _prepare(settings, seed=True)
    info = demo_info(settings, _server_url(args.base_url))
    from authsvc.demo import demo_lifecycle_info  # lazy, like every command's imports

    info.update(demo_lifecycle_info(settings, info["base_url"]))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from authsvc.demo import start_dev_sessions
    from authsvc.security.keys import load_or_create_dev_keys
    from authsvc.security.tokens import mint_token

    settings = _settings(args)
    _development_only(settings, "token")
    if not settings.uses_dev_key:
        raise ConfigError("authsvc token mints with the dev key only; unset AUTHSVC_JWKS_URL etc.")
    keys = load_or_create_dev_keys(settings.data_dir)
    # The token names a session of its own (as a signed-in user's), when its subject exists.
    _prepare(settings, seed=True)
    with _database_errors():
        sessions = start_dev_sessions(
            settings.resolved_database_url, [args.subject], ttl_seconds=args.ttl
        )
    print(
        mint_token(
            keys,
            subject=str(args.subject),
            customer_id=args.customer,
            permissions=tuple(args.permission),
            platform_admin=args.platform_admin,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=args.ttl,
            session_id=sessions.get(args.subject),
        )
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from authsvc.mail.worker import run_worker_process

    settings = _settings(args)
    _service_contract()
    # A database that is down at start is waited for, as during an outage (see authsvc.mail.worker).
    return int(run_worker_process(settings) or 0)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from authsvc.db.migrate import head_revision, upgrade_database

    settings = _settings(args)
    _service_contract()
    _make_data_dir(settings)
    with _database_errors():
        applied = upgrade_database(settings.resolved_database_url)
    head = head_revision()
    if applied:
        print(f"applied {len(applied)} migration(s): {', '.join(map(str, applied))}")
        print(f"the database is now at revision {head}, the latest")
    else:
        print(f"nothing to apply: the database is at revision {head}, the latest")
    return 0


def cmd_admin_create_customer(args: argparse.Namespace) -> int:
    from authsvc.bootstrap import create_customer_command, describe

    settings = _settings(args)
    _service_contract()
    _prepare(settings, seed=False)
    print(describe(create_customer_command(settings, args), as_json=args.json))
    return 0


def cmd_mock(args: argparse.Namespace) -> int:
    from authsvc.mock.serve.cli import run_mock

    _check_port(args.port)
    return int(run_mock(args))


def _check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port: must be 0-65535, got {port}")


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be 1-65535, got {port}")
    return port


def _workers(value: str) -> int:
    try:
        workers = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of processes: {value!r}") from None
    if not 1 <= workers <= 64:
        raise argparse.ArgumentTypeError(f"must be 1-64, got {workers}")
    return workers


def _ttl(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 1 <= seconds <= MAX_TOKEN_TTL_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be 1-{MAX_TOKEN_TTL_SECONDS} seconds, got {seconds}"
        )
    return seconds


class _OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (it prints the usage, then the error, by default)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="authsvc", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def with_data_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--data-dir", help="data directory (default: $AUTHSVC_DATA_DIR or ./.authsvc)"
        )
        return p

    serve = with_data_dir(commands.add_parser("serve", help="run the service (embedded defaults)"))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8080)
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="worker processes (uvicorn's process manager; PostgreSQL only above 1)",
    )
    serve.add_argument(
        "--no-mail-loop",
        action="store_true",
        help="do not deliver the outbox in this process (run `authsvc worker` apart)",
    )
    serve.set_defaults(func=cmd_serve)

    demo = with_data_dir(commands.add_parser("demo", help="print demo IDs and dev tokens"))
    demo.add_argument("--json", action="store_true", help="one JSON object")
    demo.add_argument("--base-url", default="http://127.0.0.1:8080")
    demo.set_defaults(func=cmd_demo)

    token = with_data_dir(commands.add_parser("token", help="mint a dev token"))
    token.add_argument("--customer", type=_uuid, required=True)
    token.add_argument("--subject", type=_uuid, default=None, help="caller user id")
    token.add_argument("--permission", action="append", default=[])
    token.add_argument("--platform-admin", action="store_true")
    token.add_argument("--ttl", type=_ttl, default=3600, help="seconds")
    token.set_defaults(func=cmd_token)

    worker = with_data_dir(commands.add_parser("worker", help="deliver the mail outbox"))
    worker.set_defaults(func=cmd_worker)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = with_data_dir(db_commands.add_parser("upgrade", help="apply migrations"))
    upgrade.set_defaults(func=cmd_db_upgrade)

    from authsvc.bootstrap import add_admin_arguments

    admin = commands.add_parser("admin", help="administration: create a customer and its admin")
    with_data_dir(add_admin_arguments(admin)).set_defaults(func=cmd_admin_create_customer)

    mock = commands.add_parser("mock", help="Prism-compatible mock server for a contract")
    try:
        from authsvc.mock.serve.cli import add_mock_arguments
    except ImportError:  # pragma: no cover - the mock package is optional at import time
        mock.add_argument("spec")
    else:
        add_mock_arguments(mock)
    mock.set_defaults(func=cmd_mock)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `authsvc` console script; config errors exit 2 without a traceback."""
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    args = build_parser().parse_args(argv)
    if getattr(args, "command", None) == "token" and args.subject is None:
        args.subject = _default_subject(args)
    from authsvc.logging_setup import configure_logging
    from authsvc.security.redaction import install_log_redaction

    configure_logging()  # text at INFO until the settings say otherwise
    install_log_redaction()  # every command's log: no invite token, no line past its bound
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for problem in exc.problems:  # every problem at once, one line each
            print(f"authsvc: configuration error: {problem}", file=sys.stderr)
        return 2
    except ContractError as exc:
        # One line: the validator's own message can span many (it quotes the schema).
        message = (exc.message.splitlines() or [""])[0]
        print(
            f"authsvc: contract error: {exc.source}: {exc.pointer or '/'}: {message}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130


def _default_subject(args: argparse.Namespace) -> uuid.UUID:
    """The demo caller of the given customer, so `authsvc token --customer X` just works."""
    from authsvc.demo import DEMO

    by_customer = {
        DEMO.customer_id: DEMO.admin_user_id if args.permission else DEMO.member_user_id,
        DEMO.other_customer_id: DEMO.other_admin_user_id,
        DEMO.platform_customer_id: DEMO.platform_admin_user_id,
    }
    if args.platform_admin:
        return DEMO.platform_admin_user_id
    if args.customer in by_customer:
        return by_customer[args.customer]
    raise SystemExit("authsvc token: --subject is required for a non-demo customer")


if __name__ == "__main__":
    sys.exit(main())
