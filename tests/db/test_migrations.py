from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError

from authsvc.db.engine import make_session_factory
from authsvc.db.models import Base, Customer, Invitation, User
from authsvc.db.types import utcnow


def test_migrations__create_every_model_table(engine: Engine) -> None:
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_invitations__at_most_one_pending_per_user(engine: Engine) -> None:
    sessions = make_session_factory(engine, write=True)
    customer = Customer(name="Acme")
    user = User(customer=customer, email="a@example.test")
    with sessions.begin() as session:
        session.add_all([customer, user])

    def invitation() -> Invitation:
        return Invitation(
            user_id=user.id,
            customer_id=customer.id,
            token_hash=uuid.uuid4().hex,
            created_by="test",
            expires_at=utcnow(),
        )

    with sessions.begin() as session:
        session.add(invitation())
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(invitation())


def test_datetimes__come_back_aware_utc(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        session.add(Customer(name="Zoned"))
    with sessions() as session:
        customer = session.query(Customer).one()
        assert customer.created_at.utcoffset() is not None
