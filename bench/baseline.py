"""The baseline: a bare Starlette endpoint answering the resend route with the same JSON.

Run under the same uvicorn settings as `authsvc serve` (one worker, the same log level, so the
same access log, the same event loop), so the service/baseline ratio measures only what the
service adds.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authsvc.cli import SERVICE_EVENT_LOOP

RESEND_OK = {"status": "success", "message": "Invite mail sent successfully"}
RESEND_PATH = "/auth/api/v1/customers/{customerID}/users/{userID}/resend-invite"
USERS_PATH = "/auth/api/v1/customers/{customerID}/users"
USER_PATH = "/auth/api/v1/customers/{customerID}/users/{userID}"
# What the service answers for one user: the same size on the wire, so a list or get baseline
# writes as many bytes as the service does (bench/workers.py).
USER = {
    "id": "8c0b7a5e-0a4f-4c59-9b1e-2d7b3f3f6a11",
    "first_name": "Bench",
    "last_name": "User",
    "email": "bench.user@example.com",
    "mobile": None,
    "is_email_verified": False,
    "is_first_login": True,
    "created_at": "2026-12-05T00:00:00Z",
    "created_by": None,
    "updated_at": "2026-12-05T00:00:00Z",
    "updated_by": None,
    "status": "INVITED",
    "subrole": {"id": "8c0b7a5e-0a4f-4c59-9b1e-2d7b3f3f6a12", "code": "cro", "label": "CRO"},
}


async def resend(_request: Request) -> JSONResponse:
    return JSONResponse(RESEND_OK)


async def list_users(_request: Request) -> JSONResponse:
    records = [USER] * 20
    return JSONResponse(
        {
            "status": "success",
            "data": {"records": records, "total_pages": 50, "total_items": "1000"},
        }
    )


async def get_user(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "success", "data": USER})


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "database": "ok"})


def build_app() -> Starlette:
    return Starlette(
        routes=[
            Route(RESEND_PATH, resend, methods=["POST"]),
            Route(USERS_PATH, list_users),
            Route(USER_PATH, get_user),
            Route("/healthz", healthz),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--loop", default=SERVICE_EVENT_LOOP, choices=["asyncio", "uvloop"])
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args()
    uvicorn.run(
        "bench.baseline:build_app" if args.workers > 1 else build_app(),
        factory=args.workers > 1,
        workers=args.workers,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        loop=args.loop,
    )


if __name__ == "__main__":
    main()
