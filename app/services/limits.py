"""The service's limits: the throttle's rules (authsvc.services.throttle) named and configured.

Each limit is a scope of the one throttle, keyed by what it protects. Client addresses are keyed
by what one client can change cheaply: an IPv4 address as is, an IPv6 address by its /64 (one
subscriber's network is routinely a /64, so its 2^64 addresses would otherwise be 2^64 budgets).
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime

from sqlalchemy import Connection

from authsvc.config import Settings
from authsvc.errors import InviteMailsLimited, RateLimited
from authsvc.services.throttle import Backoff, Decision, Window, hit, peek

ACCEPT_PER_ADDRESS = "accept:address"
INVITE_MAILS_PER_CUSTOMER = "invite-mail:customer"
INVITE_MAILS_PER_USER = "invite-mail:user"  # the resend limit
SIGN_IN_PER_EMAIL = "sign-in:email"
SIGN_IN_PER_ADDRESS = "sign-in:address"
FORGOT_PER_EMAIL = "forgot:email"
FORGOT_PER_ADDRESS = "forgot:address"


def accept_per_address(settings: Settings) -> Window:
    """Attempts to accept an invitation (an Argon2id hash each) from one client address."""
    return Window(ACCEPT_PER_ADDRESS, settings.accept_limit, settings.accept_window_seconds)


def invite_mails_per_customer(settings: Settings) -> Window:
    """Invitation mails (create and resend) for one customer's users."""
    return Window(
        INVITE_MAILS_PER_CUSTOMER, settings.invite_mail_limit, settings.invite_mail_window_seconds
    )


def invite_mails_per_user(settings: Settings) -> Window:
    """Invitation mails (create and resend) for one user: the resend limit."""
    return Window(INVITE_MAILS_PER_USER, settings.resend_limit, settings.resend_window_seconds)


def sign_in_per_email(settings: Settings) -> Backoff:
    """Failed sign-ins for one submitted e-mail (known or not): a progressive delay."""
    return Backoff(
        SIGN_IN_PER_EMAIL,
        free=settings.sign_in_free_failures,
        base_seconds=settings.sign_in_backoff_base_seconds,
        cap_seconds=settings.sign_in_backoff_cap_seconds,
        quiet_seconds=settings.sign_in_quiet_seconds,
    )


def sign_in_per_address(settings: Settings) -> Window:
    """Failed sign-ins from one client address, whatever the e-mail: a ceiling."""
    return Window(
        SIGN_IN_PER_ADDRESS, settings.sign_in_address_limit, settings.sign_in_address_window_seconds
    )


def forgot_per_email(settings: Settings) -> Window:
    """Reset requests for one submitted e-mail (known or not)."""
    return Window(FORGOT_PER_EMAIL, settings.forgot_limit, settings.forgot_window_seconds)


def forgot_per_address(settings: Settings) -> Window:
    """Reset requests from one client address, whatever the e-mail."""
    return Window(
        FORGOT_PER_ADDRESS, settings.forgot_address_limit, settings.forgot_address_window_seconds
    )


def address_key(address: str) -> str:
    """The throttle key of a client address: IPv4 as is, IPv6 by its /64, anything else as given."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a test client, a Unix socket): one key per name
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def admit_attempt(connection: Connection, settings: Settings, *, client_address: str) -> Decision:
    """A unit of work: count one unauthenticated password attempt from `client_address`."""
    return hit(connection, accept_per_address(settings), address_key(client_address))


def customer_key(customer_id: uuid.UUID) -> str:
    return str(customer_id)


def user_key(user_id: uuid.UUID) -> str:
    return str(user_id)


def raise_unless_allowed(decision: Decision, refusal: type[RateLimited]) -> None:
    """`refusal(retry_after)` for a refused decision."""
    if not decision.allowed:
        raise refusal(decision.retry_after)


def invitation_mail_wait(
    connection: Connection,
    settings: Settings,
    *,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime,
) -> int:
    """Seconds before one more invitation mail to this user may go (0: now), counting nothing.

    Both limits apply: the user's (the resend limit) and the customer's; the longer wait wins.
    """
    return max(
        peek(connection, invite_mails_per_user(settings), user_key(user_id), now=now).retry_after,
        peek(
            connection, invite_mails_per_customer(settings), customer_key(customer_id), now=now
        ).retry_after,
    )


def count_invitation_mail(
    connection: Connection,
    settings: Settings,
    *,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime,
) -> None:
    """Count one invitation mail against both limits, or raise `InviteMailsLimited`."""
    per_customer = hit(
        connection, invite_mails_per_customer(settings), customer_key(customer_id), now=now
    )
    raise_unless_allowed(per_customer, InviteMailsLimited)
    # A resend peeked at this under the same lock; a created user has no mail yet.
    per_user = hit(connection, invite_mails_per_user(settings), user_key(user_id), now=now)
    raise_unless_allowed(per_user, RateLimited)
