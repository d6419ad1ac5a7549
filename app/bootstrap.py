"""`authsvc admin create-customer`: the first customer and admin of a deployment, from the shell.

The operator names the customer and its admin's address; the admin receives the invitation by
mail (through the outbox, so `authsvc serve` or `authsvc worker` delivers it) and sets a password
by accepting it. Nothing secret is printed: the invite token exists only in that mail.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from authsvc.errors import ConfigError

if TYPE_CHECKING:
    from authsvc.config import Settings
    from authsvc.services.create_customer import BootstrapResult


def add_admin_arguments(admin: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`admin create-customer`'s options; returns its parser (the caller sets the function)."""
    commands = admin.add_subparsers(dest="admin_command", required=True)
    create = commands.add_parser(
        "create-customer",
        help="create a customer and invite its first admin (idempotent)",
        description=__doc__,
    )
    create.add_argument("--name", required=True, help="the customer's name")
    create.add_argument("--admin-email", required=True, help="the first admin's e-mail address")
    create.add_argument("--first-name", default="", help="the admin's first name")
    create.add_argument("--last-name", default="", help="the admin's last name")
    create.add_argument(
        "--resend",
        action="store_true",
        help="send a new invitation if the admin has not accepted yet",
    )
    create.add_argument("--json", action="store_true", help="one JSON object")
    return create


def create_customer_command(settings: Settings, args: argparse.Namespace) -> BootstrapResult:
    """Run the use case in one write transaction; `ConfigError` (exit 2) on a conflict."""
    from authsvc.db.engine import create_db_engine, write_engine
    from authsvc.db.runner import run_in_transaction
    from authsvc.mail.sealing import load_outbox_sealer
    from authsvc.services.create_customer import BootstrapConflict, create_customer

    sealer = load_outbox_sealer(settings)  # the same keys as the instances that deliver
    engine = create_db_engine(
        settings.resolved_database_url, timeout_seconds=settings.db_timeout_seconds, pool_size=1
    )
    try:
        return run_in_transaction(
            write_engine(engine),
            lambda connection: create_customer(
                connection,
                settings,
                sealer=sealer,
                name=args.name,
                admin_email=args.admin_email,
                first_name=args.first_name,
                last_name=args.last_name,
                resend=args.resend,
            ),
        )
    except BootstrapConflict as exc:
        raise ConfigError(str(exc)) from None
    finally:
        engine.dispose()


def describe(result: BootstrapResult, *, as_json: bool) -> str:
    """What the command did, for a person (one line) or a script (one JSON object)."""
    if as_json:
        return json.dumps(
            {
                "outcome": str(result.outcome),
                "customer_id": str(result.customer_id),
                "admin_user_id": str(result.admin_user_id),
                "admin_status": str(result.admin_status),
            }
        )
    said = {
        "created": "created; the admin's invitation is queued for delivery",
        "re-invited": "re-invited the admin; the previous invitation link no longer works",
        "unchanged": (
            "unchanged; nothing sent"
            + (
                " (the admin has not accepted yet: --resend sends a new invitation)"
                if str(result.admin_status) == "INVITED"
                else f" (the admin is {result.admin_status})"
            )
        ),
    }[str(result.outcome)]
    return f"customer {result.customer_id}, admin user {result.admin_user_id}: {said}"
