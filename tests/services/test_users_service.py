"""The lifecycle units of work on the one write path, on SQLite and PostgreSQL.

What the API tests cannot show from outside: concurrent accepts of one link (exactly one wins),
refusals that write nothing at all, and every new customer starting with the default subroles.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from authsvc.db.engine import make_session_factory
from authsvc.db.models import (
    DEFAULT_SUBROLES,
    AuditEvent,
    Customer,
    Invitation,
    RefreshToken,
    Subrole,
    User,
    UserStatus,
)
from authsvc.demo import DEMO
from authsvc.errors import DuplicateEmail, InvalidInvitation, UnknownSubrole
from authsvc.security.passwords import hash_password
from authsvc.security.principal import Principal
from authsvc.services.accept_invitation import accept_invitation
from authsvc.services.container import Services
from authsvc.services.invitations import hash_invite_token
from authsvc.services.write_users import create_user
from tests.support.lifecycle import invite_token_in, mail_to, subrole_id

ADMIN = Principal(str(DEMO.admin_user_id), DEMO.customer_id, frozenset(), False)


def _create(services: Services, email: str, subrole: str = "cro") -> uuid.UUID:
    return services.writes.call(
        create_user,
        settings=services.settings,
        principal=ADMIN,
        customer_id=DEMO.customer_id,
        first_name="Tess",
        last_name="Test",
        email=email,
        mobile=None,
        subrole_id=uuid.UUID(subrole_id(services, DEMO.customer_id, subrole)),
    )


def _counts(services: Services) -> tuple[int, ...]:
    with Session(services.engine) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (User, Invitation, RefreshToken, AuditEvent)
        )


def test_new_customers_start_with_the_default_subroles(services: Services) -> None:
    with make_session_factory(services.engine, write=True).begin() as session:
        customer = Customer(name="Initech")
        session.add(customer)
    with Session(services.engine) as session:
        codes = session.scalars(select(Subrole.code).where(Subrole.customer_id == customer.id))
        assert sorted(codes) == sorted(t.code for t in DEFAULT_SUBROLES)


def test_create__refusals_write_nothing(services: Services, demo: dict[str, Any]) -> None:
    _create(services, "tess@example.com")
    before = _counts(services)
    with pytest.raises(DuplicateEmail):
        _create(services, "  TESS@example.com")
    with pytest.raises(UnknownSubrole):
        services.writes.call(
            create_user,
            settings=services.settings,
            principal=ADMIN,
            customer_id=DEMO.customer_id,
            first_name="X",
            last_name="Y",
            email="other@example.com",
            mobile=None,
            subrole_id=uuid.uuid4(),
        )
    assert _counts(services) == before
    assert len(mail_to(services, "tess@example.com")) == 1


def test_accept__concurrent_accepts_of_one_link_exactly_one_wins(
    services: Services, demo: dict[str, Any]
) -> None:
    user_id = _create(services, "race@example.com")
    (mail,) = mail_to(services, "race@example.com")
    token_hash = hash_invite_token(invite_token_in(mail))
    password_hash = hash_password("Corr3ct-Horse-Battery")

    def accept(_: int) -> str:
        try:
            services.writes.call(
                accept_invitation,
                issuer=services.issuer,
                token_hash=token_hash,
                password_hash=password_hash,
            )
        except InvalidInvitation:
            return "refused"
        return "accepted"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(accept, range(8)))
    assert outcomes == ["accepted"] + ["refused"] * 7
    with Session(services.engine) as session:
        assert session.get_one(User, user_id).status is UserStatus.ACTIVE
        assert session.scalar(select(func.count()).select_from(RefreshToken)) == 1


def test_accept__unusable_token_writes_nothing(services: Services, demo: dict[str, Any]) -> None:
    before = _counts(services)
    with pytest.raises(InvalidInvitation):
        services.writes.call(
            accept_invitation,
            issuer=services.issuer,
            token_hash=hash_invite_token("nobody-has-this-token"),
            password_hash=hash_password("Corr3ct-Horse-Battery"),
        )
    assert _counts(services) == before
