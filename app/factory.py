"""The composition root: the one place that builds engines, keys and services and wires Connexion."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from importlib import import_module, resources
from pathlib import Path
from typing import Any

import anyio.to_thread
from connexion import AsyncApp
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from connexion.security import BearerSecurityHandler

from authsvc.config import Settings
from authsvc.contract import Contract, default_contract_path, load_contract
from authsvc.db.checkpoints import WalCheckpointer
from authsvc.db.engine import create_db_engine, is_sqlite
from authsvc.mail.sealing import load_outbox_sealer
from authsvc.mail.transport import build_transport
from authsvc.mail.worker import start_background_worker
from authsvc.security.issuer import TokenIssuer
from authsvc.security.redaction import install_log_redaction
from authsvc.security.signing import load_signing_keys
from authsvc.security.tokens import build_token_verifier
from authsvc.services.container import Services, database_runners
from authsvc.services.sessions import SessionIssuer, SessionPolicy
from authsvc.web.asgi_guards import RequestGuard
from authsvc.web.client_address import ClientAddress
from authsvc.web.connexion31 import (
    check_parameters_supported,
    install_openapi31_support,
    validator_map,
)
from authsvc.web.cors import CorsPolicy
from authsvc.web.edge import Edge, EdgeOptions
from authsvc.web.http_errors import install_error_handlers

logger = logging.getLogger("authsvc")
OPERATIONS_CONTRACT = default_contract_path("operations.yaml")


def swagger_ui_5_dir() -> Path:
    """Swagger UI 5.x: the 4.x that Connexion bundles refuses to render OpenAPI 3.1."""
    vendor = Path(str(resources.files("swagger_ui_bundle") / "vendor"))
    candidates = sorted(vendor.glob("swagger-ui-5.*"))
    if not candidates:
        raise RuntimeError("Swagger UI 5.x is missing: install swagger-ui-bundle-v2")
    return candidates[-1]


def build_services(settings: Settings) -> Services:
    engine = create_db_engine(
        settings.resolved_database_url,
        timeout_seconds=settings.db_timeout_seconds,
        background_checkpoints=True,  # the app's lifespan runs the WalCheckpointer
    )
    writes, reads = database_runners(
        engine,
        timeout_seconds=settings.resolved_request_timeout,
        idle_seconds=settings.db_thread_idle_seconds,
    )
    signing_keys = load_signing_keys(settings)
    sealer = load_outbox_sealer(settings)  # seals the tokens of queued mail (authsvc.mail)
    issuer = TokenIssuer(
        signing_keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        id_token_ttl_seconds=settings.id_token_ttl_seconds,
    )
    sessions = SessionIssuer(
        tokens=issuer,
        policy=SessionPolicy(
            idle_seconds=settings.session_idle_seconds,
            absolute_seconds=settings.session_absolute_seconds,
            grace_seconds=settings.refresh_grace_seconds,
        ),
    )
    return Services(
        settings=settings,
        issuer=sessions,
        tokens=build_token_verifier(settings, signing_keys),
        writes=writes,
        reads=reads,
        sealer=sealer,
    )


def _bound_resolver(services: Services) -> Resolver:
    """operationId `customers.resend_invite` -> `handlers.customers.resend_invite(..., services=)`."""

    def resolve(operation_id: str) -> Callable[..., Any]:
        module_name, _, function_name = operation_id.rpartition(".")
        handler = getattr(import_module(f"authsvc.handlers.{module_name}"), function_name)
        bound = functools.partial(handler, services=services)
        # Connexion re-inspects the handler on every request; a precomputed signature turns that
        # into an attribute read (inspect.signature honours __signature__ before unwrapping).
        bound.__signature__ = inspect.signature(bound)  # type: ignore[attr-defined]
        return bound

    return Resolver(function_resolver=resolve)


def _bearer_handler(services: Services, *, may_block: bool) -> type[BearerSecurityHandler]:
    def bearer_info(token: str) -> dict[str, Any]:
        principal = services.authenticate(token)
        return {"sub": principal.subject, "principal": principal}

    async def bearer_info_in_thread(token: str) -> dict[str, Any]:
        # A JWKS refresh is a network call (bounded, and at most once per cooldown): keep it off
        # the event loop. Local keys verify in microseconds, so they skip the thread hop.
        return await anyio.to_thread.run_sync(bearer_info, token)

    chosen = bearer_info_in_thread if may_block else bearer_info
    # Connexion inspects the bearer function twice per request (does it take `required_scopes`,
    # `request`?); a precomputed signature makes each an attribute read, as for the handlers.
    chosen.__signature__ = inspect.signature(chosen)  # type: ignore[union-attr]

    class ServiceBearerHandler(BearerSecurityHandler):  # type: ignore[misc]
        def _resolve_func(self, security_scheme: dict[str, Any]) -> Callable[[str], Any]:
            return chosen

    return ServiceBearerHandler


def create_app(
    settings: Settings,
    *,
    contract: Contract | None = None,
    services: Services | None = None,
    run_outbox_worker: bool = False,
) -> AsyncApp:
    """The Auth Service as an ASGI app; `run_outbox_worker` drains the mail outbox in-process."""
    install_openapi31_support()
    install_log_redaction()  # the accept path carries an invite token
    contract = contract or load_contract(default_contract_path())
    check_parameters_supported(contract)
    operations = load_contract(OPERATIONS_CONTRACT)
    services = services or build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        checkpoints = WalCheckpointer(services.engine).start()
        worker = None
        if run_outbox_worker:
            engine = services.engine
            worker = start_background_worker(
                engine,
                build_transport(settings),
                settings,
                sealer=services.sealer,
                # SQLite: the outbox's units join the requests' group commit on the one writer.
                writes=services.writes.submit if is_sqlite(engine) else None,
            )
        try:
            yield
        finally:
            if worker is not None:
                # Waits for the message being sent (bounded by the SMTP timeout): off the loop.
                await anyio.to_thread.run_sync(worker.stop)
            await anyio.to_thread.run_sync(checkpoints.stop)
            services.close()

    app = AsyncApp(__name__, lifespan=lifespan)
    common: dict[str, Any] = {
        "resolver": _bound_resolver(services),
        "strict_validation": True,
        "validate_responses": True,
        "pythonic_params": True,
        "security_map": {"bearer": _bearer_handler(services, may_block=services.tokens.may_block)},
    }
    # The root-mounted operations API goes first: added after, its mount would shadow the other.
    app.add_api(
        dict(operations.raw),
        base_path="",
        swagger_ui_options=SwaggerUIOptions(swagger_ui=False, serve_spec=False),
        name="operations",
        validator_map=validator_map(operations),
        **common,
    )
    app.add_api(
        dict(contract.raw),
        swagger_ui_options=SwaggerUIOptions(
            swagger_ui_template_dir=str(swagger_ui_5_dir()),
            swagger_ui_template_arguments={"title": contract.raw["info"]["title"]},
        ),
        name="auth",
        validator_map=validator_map(contract),
        **common,
    )
    install_error_handlers(app, (operations, contract))
    # Outermost of ours, so that the guard's refusals get a request id and CORS headers too.
    app.add_middleware(
        Edge,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        options=edge_options(settings, (operations, contract)),
    )
    app.add_middleware(
        RequestGuard, position=MiddlewarePosition.BEFORE_EXCEPTION, contracts=(operations, contract)
    )
    app.add_middleware(
        ClientAddress,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        trusted_proxies=settings.trusted_proxies,
    )
    return app


def edge_options(settings: Settings, contracts: tuple[Contract, ...]) -> EdgeOptions:
    """CORS for the methods the contracts use, and who may read /metrics, from the settings."""
    methods = {op.method.upper() for contract in contracts for op in contract.operations()}
    order = ("GET", "POST", "PUT", "PATCH", "DELETE")
    return EdgeOptions(
        cors=CorsPolicy(frozenset(settings.cors_origins), tuple(m for m in order if m in methods)),
        metrics_allow=settings.metrics_networks,
    )
