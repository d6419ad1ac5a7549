"""`authsvc`: serve, demo, token, worker, db upgrade, mock."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from authsvc.errors import ConfigError

if TYPE_CHECKING:  # pydantic-settings costs ~0.2 s to import; `authsvc mock` never needs it
    from authsvc.config import Settings

API_BASE_PATH = "/auth/api/v1"
# The stdlib asyncio loop, not uvloop: SQLite resends run on the loop's thread when the write
# lock is free (app.services.container), and under uvloop a saturated loop left connections
# opened meanwhile waiting: at 64 connections a dozen first requests took over 2 s (p99 1.1-2.1
# s); with asyncio p99 was 155 ms at the same throughput (wrk, alternating runs; the bare
# Starlette baseline measured the same on both loops). bench/ serves its baseline the same way.
SERVICE_EVENT_LOOP = "asyncio"
logger = logging.getLogger("authsvc")


def _settings(args: argparse.Namespace) -> Settings:
    from authsvc.config import load_settings

    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = Path(args.data_dir)
    return load_settings(**overrides)


def _prepare(settings: Settings, *, seed: bool) -> None:
    """Create the data directory, apply migrations and (in development) seed the demo data."""
    from authsvc.db.engine import create_db_engine, make_session_factory
    from authsvc.db.migrate import upgrade_database
    from authsvc.demo import seed_demo_data

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.resolved_database_url)
    if seed and settings.environment == "development":
        engine = create_db_engine(settings.resolved_database_url)
        try:
            seed_demo_data(make_session_factory(engine, write=True))
        finally:
            engine.dispose()


def demo_info(settings: Settings, base_url: str) -> dict[str, Any]:
    """Everything a newcomer needs to call the demo service: IDs, tokens and the dev key."""
    from authsvc.demo import DEMO
    from authsvc.security.keys import load_or_create_dev_keys
    from authsvc.security.principal import RESEND_INVITE_PERMISSION
    from authsvc.security.tokens import mint_token

    keys = load_or_create_dev_keys(settings.data_dir)

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
            ttl_seconds=24 * 3600,
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
    import uvicorn

    from authsvc.factory import create_app

    settings = _settings(args)
    _prepare(settings, seed=True)
    app = create_app(settings, run_outbox_worker=True)
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
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        loop=SERVICE_EVENT_LOOP,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _prepare(settings, seed=True)
    info = demo_info(settings, args.base_url.rstrip("/"))
    from authsvc.demo import demo_lifecycle_info  # lazy, like every command's imports

    info.update(demo_lifecycle_info(settings, info["base_url"]))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from authsvc.security.keys import load_or_create_dev_keys
    from authsvc.security.tokens import mint_token

    settings = _settings(args)
    if not settings.uses_dev_key:
        raise ConfigError("authsvc token mints with the dev key only; unset AUTHSVC_JWKS_URL etc.")
    keys = load_or_create_dev_keys(settings.data_dir)
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
        )
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from authsvc.mail.worker import run_worker_process

    settings = _settings(args)
    return int(run_worker_process(settings) or 0)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from authsvc.db.migrate import upgrade_database

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.resolved_database_url)
    print("database is at the latest revision")
    return 0


def cmd_mock(args: argparse.Namespace) -> int:
    from authsvc.mock.cli import run_mock

    return int(run_mock(args))


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="authsvc", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def with_data_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--data-dir", help="data directory (default: $AUTHSVC_DATA_DIR or ./.authsvc)"
        )
        return p

    serve = with_data_dir(commands.add_parser("serve", help="run the service (embedded defaults)"))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
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
    token.add_argument("--ttl", type=int, default=3600, help="seconds")
    token.set_defaults(func=cmd_token)

    worker = with_data_dir(commands.add_parser("worker", help="deliver the mail outbox"))
    worker.set_defaults(func=cmd_worker)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = with_data_dir(db_commands.add_parser("upgrade", help="apply migrations"))
    upgrade.set_defaults(func=cmd_db_upgrade)

    mock = commands.add_parser("mock", help="Prism-compatible mock server for a contract")
    try:
        from authsvc.mock.cli import add_mock_arguments
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
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"authsvc: configuration error: {exc}", file=sys.stderr)
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
